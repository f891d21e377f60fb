"""Shared plumbing of the complaint-case orchestrator: settings, data converter, client, CLI, local stack."""
