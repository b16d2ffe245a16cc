"""The policy benchmark: scenarios, a simulated cluster, a performance model, reports.

It runs the same policy code the controller runs (`controller.policy`) against
simulated hosts (`hostagent.backends.sim`), next to the baselines, and scores them with
a documented model of VM throughput (`bench.model`). See bench/README.md.
"""
