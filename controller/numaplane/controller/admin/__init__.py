"""Intent in: the Admin gRPC servicer the `numaplane` CLI talks to.

`servicer` validates and reads or writes intent, delegating each loop's requests to
that loop's own `admin` module (placement, balloon, rebalance); `commands` records
operator command requests; `events` turns store changes into the events `numaplane
events` follows; `records` groups stored host and VM records and `messages` turns them
into the API's Host and Vm messages.
"""
