"""TuneKite's LMDeploy engine (`--infer_backend lmdeploy`; needs a CUDA GPU).

`plugin` registers it (light), `mapping` turns TuneKite arguments and requests into
LMDeploy keyword arguments (pure functions, testable anywhere), `engine` drives
`lmdeploy.pipeline`.
"""
