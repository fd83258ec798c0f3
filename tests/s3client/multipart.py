"""Drives a multipart upload through corsgate with boto3, as an application would.

The client's credentials are dummies: corsgate strips the client's signature and signs
with its own, so only the proxy holds the bucket's keys. Prints one JSON line with what
was sent and what came back, for the Rust test to compare with the bucket's file.
"""
import hashlib
import json
import os
import sys

import boto3
from botocore.config import Config


def main():
    endpoint, bucket, key = sys.argv[1], sys.argv[2], sys.argv[3]
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="CLIENT-HAS-NO-REAL-KEY",
        aws_secret_access_key="client-has-no-real-secret",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    parts = [os.urandom(5 * 1024 * 1024), os.urandom(5 * 1024 * 1024), os.urandom(1024 * 1024)]
    sent = hashlib.sha256(b"".join(parts)).hexdigest()
    up = s3.create_multipart_upload(Bucket=bucket, Key=key)
    done = []
    for n, body in enumerate(parts, start=1):
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=n, Body=body)
        done.append({"PartNumber": n, "ETag": r["ETag"]})
    s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=up["UploadId"], MultipartUpload={"Parts": done}
    )
    got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    print(json.dumps({
        "parts": len(done),
        "sent_sha256": sent,
        "got_sha256": hashlib.sha256(got).hexdigest(),
        "got_bytes": len(got),
    }))


if __name__ == "__main__":
    main()
