"""ReFT for TuneKite: the `reft` tuner, pyreft interventions on every decoder layer."""
