"""The argument model: one declaration per argument, and a reader for every one.

Every declared argument (core's groups in `groups.py`, each component's own group) is
either read by the code that owns it or refused at resolve time with the reason:

- Read: core reads it, or, for a core argument declared with `arg(read_by=KIND)`, the
  component of that kind the run selects reads it (`target_modules` by the tuner,
  `quant_bits` by the quantizer). Giving such an argument when the run selects no
  component of that kind is an error naming the selector (`--quant_bits` without
  `--quant_method`). Training arguments reach transformers through the one explicit
  table in `tunekite.training.hf_args.DESTINATIONS`.
- Refused: `arg(unsupported="reason")` keeps the name (so ms-swift scripts that pass
  the default still run) but any other value stops the run with
  `--NAME: reason` ("not built yet: ...", "belongs to ...", "needs plugin ...").
  A component or runnable refuses core arguments it does not read through its spec's
  `rejects` (`full` refuses `--target_modules`; sft refuses `--loss_type`, which rlhf
  reads). An argument of a plugin that is not installed is unknown; its selector names
  the distribution to install (`--quant_method bnb`: `pip install tunekite-bnb`).

`tunekite.arguments.readers` checks this statically for every installed component;
`core/tests/test_argument_readers.py` fails when an argument has neither.
"""
