"""The run: events, bus, event log, scenarios, scheduler, run folder."""
