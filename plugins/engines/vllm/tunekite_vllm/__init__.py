"""TuneKite's vLLM engine (`--infer_backend vllm`).

`plugin` registers it (light), `mapping` turns TuneKite arguments and requests into vLLM
keyword arguments (pure functions, testable without vLLM), `engine` drives `vllm.LLM`.
"""
