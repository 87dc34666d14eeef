"""mvneta counters: the netdev stats (``ip -s link``) and ``ethtool -S eth0`` (Linux 6.1 names, in order).

One int64 array holds them all; ``S_<NAME>`` is a counter's index.  The
``rx_pp_*`` page_pool counters are not stored here: like the driver
(``page_pool_get_stats``), ``ethtool -S`` sums them from the queue's pools.
"""

NETDEV_STATS = ("rx_packets", "rx_bytes", "rx_errors", "rx_dropped", "tx_packets", "tx_bytes", "tx_dropped")
# mvneta_statistics[]: HW MIB counters, then software counters, then the per-CPU XDP counters
ETHTOOL_STATS = (
    "good_octets_received", "good_frames_received", "bad_octets_received", "bad_frames_received",
    "broadcast_frames_received", "multicast_frames_received", "unrec_mac_control_received",
    "good_fc_received", "bad_fc_received", "undersize_received", "fragments_received", "oversize_received",
    "jabber_received", "mac_receive_error", "bad_crc_event", "collision", "late_collision", "rx_discard",
    "rx_overrun", "frames_64_octets", "frames_65_to_127_octets", "frames_128_to_255_octets",
    "frames_256_to_511_octets", "frames_512_to_1023_octets", "frames_1024_to_max_octets",
    "good_octets_sent", "good_frames_sent", "excessive_collision", "multicast_frames_sent",
    "broadcast_frames_sent", "fc_sent", "internal_mac_transmit_err",
    "eee_wakeup_errors", "skb_alloc_errors", "refill_errors",
    "rx_xdp_redirect", "rx_xdp_pass", "rx_xdp_drop", "rx_xdp_tx", "rx_xdp_tx_errors",
    "tx_xdp_xmit", "tx_xdp_xmit_errors",
)
STAT_NAMES = NETDEV_STATS + ETHTOOL_STATS
NSTATS = len(STAT_NAMES)

__all__ = ["NETDEV_STATS", "ETHTOOL_STATS", "STAT_NAMES", "NSTATS"]
for _i, _n in enumerate(STAT_NAMES):
    globals()["S_" + _n.upper()] = _i
    __all__.append("S_" + _n.upper())
