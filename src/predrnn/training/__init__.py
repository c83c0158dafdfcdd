"""Lightning pieces: the module, the sampling-schedule callback, metrics, media, guards."""
