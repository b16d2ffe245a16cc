"""The leader's rebalancing: inputs read from etcd, the pure rebalancer
(`numaplane.controller.policy.rebalance`), and its moves journaled as commands.

`loop.RebalanceLoop` is one of `Reconciler.loops`; `admin.RebalanceAdmin` serves the
Rebalance and MigrateVm RPCs (reads and intent only).
"""
