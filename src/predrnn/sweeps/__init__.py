"""Comparing the jobs of a sweep across seeds (`predrnn-report`): reading the jobs of a multirun
folder (`jobs`), grouping them into configurations with their mean and spread over seeds
(`configurations`) and writing the table, CSV and plot (`report`)."""
