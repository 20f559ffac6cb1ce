"""Inference engines: the request/response contract (`protocol`) and core's PyTorch engine (`pt`)."""
