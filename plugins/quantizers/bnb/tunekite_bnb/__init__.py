"""bitsandbytes for TuneKite: `--quant_method bnb --quant_bits 4|8` loads the model quantized."""
