"""The tests' port picker stays out of the kernel's ephemeral range (where outgoing connections
take ports while a server starts) and never hands out one port twice."""

import socket

from net_util import ephemeral_range, free_port


def test_ports_are_outside_the_ephemeral_range_distinct_and_bindable():
    low, high = ephemeral_range()
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(1024 <= p < low for p in ports), [p for p in ports if not 1024 <= p < low]
    with socket.socket() as s:
        s.bind(("127.0.0.1", ports[-1]))


def test_a_port_held_by_a_listener_is_never_handed_out():
    held = []
    low, _ = ephemeral_range()
    # Occupy a block of the picker's range so that random picks are likely to land on it.
    for port in range(low - 300, low):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        s.listen()
        held.append(s)
    try:
        taken = {s.getsockname()[1] for s in held}
        picks = {free_port() for _ in range(300)}
        assert not picks & taken
    finally:
        for s in held:
            s.close()
