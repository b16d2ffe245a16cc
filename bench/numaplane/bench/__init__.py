"""The policy benchmark: scenarios, a simulated cluster, a performance model, reports.

It runs the same policy code the controller runs (`numaplane.controller.policy`) against
simulated hosts (`numaplane.hostagent.drivers.sim`), next to the baselines, and scores them with
a documented model of VM throughput (`numaplane.bench.model`). See bench/README.md.
"""
