"""moto's server on loopback with a free port: a real AWS API (S3, Lambda, IAM, STS) for tests."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from typing import Any


class MotoServer:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            found = re.search(r"Running on (http://127\.0\.0\.1:\d+)", line)
            if found:
                self.url = found.group(1)
                break
        else:
            raise RuntimeError("moto server did not start")
        stream = self.process.stdout
        threading.Thread(target=lambda: stream.read(), daemon=True).start()  # drain its log

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)

    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL_S3": self.url,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "DETZIP_CACHE": "",
        }

    def client(self, service: str = "s3") -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.url,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            region_name="us-east-1",
        )
