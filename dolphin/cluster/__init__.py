"""The cluster on Ray: shards that are complete single-node Dolphin servers, placed and restarted by Ray.

Needs the `cluster` extra (`pip install 'dolphin-audience[cluster]'`); nothing outside this package imports it.
`shard` holds the actor; `shards` starts a data root's shards and finds them; `routing` splits stream batches
by shard.
"""
