"""`tk run deploy`'s OpenAI-compatible HTTP server: request schemas and errors (`schemas`),
run-time adapter management (`adapters`), the context check (`limits`), clean 500s
(`errors`), the FastAPI app (`app`), the uvicorn server that stops in bounded time
(`server`), and the warning for a server open beyond this machine (`exposure`).

Imported only by the deploy task (and `exposure` through `tunekite.api`), so `tk --help`
never pulls in FastAPI.
"""
