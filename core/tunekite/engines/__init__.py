"""Inference engines: one request/response contract (`protocol`), core's PyTorch engine (`pt`)."""
