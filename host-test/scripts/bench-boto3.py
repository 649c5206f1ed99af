#!/usr/bin/env python3
"""boto3 as `storage-host bench` measures it: the transfer manager aws-cli uses
(`upload_file` / `download_file`: 8 MiB parts, 10 threads, boto3's default CRC32), then
SMALL_OPS 1 KiB put_object / get_object on one client (reused connections).

    bench-boto3.py ENDPOINT BUCKET FILE KEY SMALL_OPS

Credentials and region from the environment. Prints one JSON object: seconds per
transfer, latencies in microseconds.
"""
import json
import os
import sys
import tempfile
import time

import boto3
from botocore.config import Config


def main():
    endpoint, bucket, path, key, small_ops = sys.argv[1:6]
    s3 = boto3.client("s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}))
    start = time.perf_counter()
    s3.upload_file(path, bucket, key)
    put = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        target = os.path.join(tmp, "download")
        start = time.perf_counter()
        s3.download_file(bucket, key, target)
        get = time.perf_counter() - start
        if os.path.getsize(target) != os.path.getsize(path):
            sys.exit("download_file wrote the wrong size")
    small = b"\x07" * 1024
    puts, gets = [], []
    for i in range(int(small_ops)):
        k = f"{key}-small-{i % 10}"
        start = time.perf_counter()
        s3.put_object(Bucket=bucket, Key=k, Body=small)
        puts.append(int((time.perf_counter() - start) * 1e6))
        start = time.perf_counter()
        data = s3.get_object(Bucket=bucket, Key=k)["Body"].read()
        gets.append(int((time.perf_counter() - start) * 1e6))
        if len(data) != 1024:
            sys.exit("small get_object returned the wrong size")
    print(json.dumps({"put_s": put, "get_s": get, "small_put_us": puts, "small_get_us": gets}))


if __name__ == "__main__":
    main()
