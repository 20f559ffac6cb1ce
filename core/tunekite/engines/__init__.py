"""Inference engines: the request/response contract (`protocol`), the reply rules every
engine shares (`stops`: stop words and streaming; `logprobs`: `TokenLogprob` entries) and
core's PyTorch engine (`pt`)."""
