"""What a recorded run or sweep says: plots, report.md, statistics; rendered from what each environment declares."""
