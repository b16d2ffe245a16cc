"""The placement loop: VM specs in, claims and StartVm/StopVm commands out.

`admin` takes `vm create`/`vm delete` and host scheduling (validated by `validation`) as
intent; the leader's `loop` steps each VM through its `lifecycle` (a pure function of
what is stored), has the policy `decide`, and writes claim, placement and command in one
guarded etcd transaction (`transactions`); `move_tracking` keeps claims and placement
records true after the rebalancer's moves.
"""
