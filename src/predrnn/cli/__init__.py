"""Console entry points: predrnn-train, -eval, -predict, -report, -bench."""
