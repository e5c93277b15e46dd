"""What a run reports: metrics, the results a report shows, the markdown report, program reviews."""
