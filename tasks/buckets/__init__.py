"""A requester's own S3-compatible buckets: items read from a prefix, results written back (docs/STORAGE.md).

- ``client.py``: the boto3 client for a ``BucketLocation`` (timeouts, bounded retries), the endpoints allowed, the
  secret's encryption, and boto3's errors turned into sentences that name the bucket, prefix or key;
- ``imports.py``: ``BucketImport``, a job filled from the objects under a prefix (data files as uploads, or media
  files listed into items);
- ``exports.py``: ``BucketExport``, a job's results streamed to ``<prefix><job>-results.<ext>`` in parts;
- ``background.py``: the Celery jobs that run them.
"""
