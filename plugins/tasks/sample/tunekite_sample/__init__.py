"""`tk run sample`: completions sampled through any engine, scored by reward plugins (an
outcome reward and a process reward), the best kept as SFT rows and DPO pairs."""

TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
TUNEKITE_REQUIRES = ("torch", "transformers")
"""What generating completions imports; `tk plugins` says so when absent."""
