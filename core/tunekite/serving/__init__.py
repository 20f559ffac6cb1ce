"""`tk run deploy`'s OpenAI-compatible HTTP server: request schemas and errors (`schemas`),
run-time adapter management (`adapters`) and the FastAPI app (`app`).

Imported only by the deploy task, so `tk --help` never pulls in FastAPI.
"""
