"""DeepSpeed ZeRO for TuneKite: `--deepspeed zero0|zero1|zero2|zero3|...` or a JSON file."""
