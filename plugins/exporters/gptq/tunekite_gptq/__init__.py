"""GPTQ and AWQ export for TuneKite through gptqmodel (`tk run export --quant_method gptq|awq`)."""
