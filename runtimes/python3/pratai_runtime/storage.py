"""Files in a workflow's data stores, for a function running as a workflow action (protocol 5).

The container has no network and no keys: each call goes to the runner over the channel (the
`faasr` service), which does the I/O against the data store (S3, the cloud's Swift, or a folder)
and streams file contents in base64 chunks of at most 512 KiB. `server` names a data store of the
workflow document; empty, its DefaultDataStore.

    from pratai_runtime.storage import put_file, get_file, delete_file, list_files
"""

import base64
import os
import re

from .calls import call

CHUNK_BYTES = 512 * 1024


def remote_key(remote_file, remote_folder=""):
    """remote_folder/remote_file, repeated slashes collapsed, no leading slash, `.` folders dropped."""
    parts = [part for part in (str(remote_folder or ""), str(remote_file)) if part not in ("", ".")]
    key = re.sub(r"/+", "/", "/".join(parts))
    key = re.sub(r"(^|/)\./", r"\1", key)
    return key.lstrip("/")


def _local_path(local_file, local_folder="."):
    return os.path.join(local_folder or ".", local_file)


def put_file(local_file, remote_file, server="", local_folder=".", remote_folder=""):
    """Uploads local_folder/local_file to remote_folder/remote_file; returns the key."""
    key = remote_key(remote_file, remote_folder)
    upload = call("faasr", "put_begin", server=server, key=key)["upload"]
    with open(_local_path(local_file, local_folder), "rb") as source:
        while True:
            chunk = source.read(CHUNK_BYTES)
            if not chunk:
                break
            call("faasr", "put_chunk", upload=upload, data=base64.b64encode(chunk).decode("ascii"))
    call("faasr", "put_end", upload=upload)
    return key


def get_file(local_file, remote_file, server="", local_folder=".", remote_folder=""):
    """Downloads remote_folder/remote_file to local_folder/local_file; returns the local path."""
    key = remote_key(remote_file, remote_folder)
    path = _local_path(local_file, local_folder)
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    offset = 0
    with open(path, "wb") as target:
        while True:
            answer = call("faasr", "read", server=server, key=key, offset=offset, length=CHUNK_BYTES)
            data = base64.b64decode(answer["data"])
            target.write(data)
            offset += len(data)
            if offset >= answer["size"] or not data:
                break
    return path


def delete_file(remote_file, server="", remote_folder=""):
    call("faasr", "delete", server=server, key=remote_key(remote_file, remote_folder))


def list_files(server="", prefix=""):
    """Full keys under prefix, sorted."""
    return call("faasr", "list", server=server, prefix=prefix)


def credentials(server=""):
    """The data store's settings and keys (Endpoint, Bucket, Region, AccessKey, SecretKey, ...)."""
    return call("faasr", "creds", server=server)


def secret(name):
    """The value of the project's secret `name`."""
    return call("faasr", "secret", name=name)
