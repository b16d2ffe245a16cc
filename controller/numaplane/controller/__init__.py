"""The numaplane controller: link and admin servicers, store, reconciler, policies, CLI."""
