-- query_shared_ips: every shared IP and network.
SELECT * FROM shared_ips
