"""The balloon loop: balloon intent in etcd -> SetBalloon commands.

`admin` records an operator's target or auto switch (`records`, compare-and-swap);
`inputs` reads stored balloons into the pure balloon policy's inputs and into what
`numaplane balloon show` prints; the leader's `loop` journals one SetBalloon per change.
"""
