"""The package's surface: every public name has a docstring and is in the
.pyi stub; help() renders; config dicts become the node's TOML; and the
Client (over the C++ AsyncClient) against an in-process cluster."""

import ast
import asyncio
import inspect
import os
import pydoc

import pytest

import ringraft
from ringraft_testing import Cluster


def public_members():
    for name in ringraft.__all__:
        obj = getattr(ringraft, name)
        yield name, obj
        if inspect.isclass(obj):
            for attr, value in vars(obj).items():
                if not attr.startswith("_"):
                    yield f"{name}.{attr}", value


def test_every_public_name_has_a_docstring():
    missing = []
    for name, obj in public_members():
        target = obj.fget if isinstance(obj, property) else obj
        if isinstance(target, staticmethod):
            target = target.__func__
        if not (getattr(target, "__doc__", None) or "").strip():
            missing.append(name)
    assert not missing, missing
    text = pydoc.render_doc(ringraft.Node, renderer=pydoc.plaintext)
    assert "async propose" in text and "Blocking :meth:`propose`" in text


def test_the_stub_declares_every_public_name():
    stub = os.path.join(os.path.dirname(ringraft.__file__), "__init__.pyi")
    tree = ast.parse(open(stub).read())
    declared = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            declared.add(node.name)
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.AnnAssign)):
                        n = item.name if not isinstance(item, ast.AnnAssign) else item.target.id
                        declared.add(f"{node.name}.{n}")
    missing = [name for name, _ in public_members() if name not in declared]
    assert not missing, missing


def test_config_dict_to_toml():
    text = ringraft.config_to_toml({
        "node": {"id": 1, "address": "127.0.0.1:7001", "data_dir": "/tmp/x", "groups": [1, 2]},
        "raft": {"pre_vote": False, "read_mode": "lease"},
        "peers": [{"id": 1, "address": "127.0.0.1:7001", "role": "voter"}],
    })
    assert "[node]\nid = 1\n" in text and "groups = [1, 2]" in text
    assert "pre_vote = false" in text and 'read_mode = "lease"' in text
    assert "[[peers]]\nid = 1" in text
    assert ringraft._ringraft.check_config(text)["groups"] == [1, 2]
    with pytest.raises(ValueError, match="unknown"):
        ringraft._ringraft.check_config(text + "[storage]\nbogus = 1\n")
    with pytest.raises(TypeError):
        ringraft.config_to_toml({"node": {"id": 1.5}})
    # [sessions] and [balance] pass through too.
    text = ringraft.config_to_toml({
        "node": {"id": 1, "address": "127.0.0.1:7001", "data_dir": "/tmp/x"},
        "sessions": {"max_sessions": 7},
        "balance": {"leaders": True, "margin": 2},
    })
    checked = ringraft._ringraft.check_config(text)
    assert checked["balance_leaders"] is True and checked["max_sessions"] == 7
    with pytest.raises(ValueError, match="balance.period_ticks"):
        ringraft._ringraft.check_config(text + "period_ticks = 0\n")


def test_config_from_a_toml_file(tmp_path):
    c = Cluster(1, "tomlfile")
    try:
        c.stop(1)
        path = tmp_path / "n1.toml"
        path.write_text(ringraft.config_to_toml(c.config(1)))
        node = c.start(1, config=str(path))
        assert node.id == 1
        c.leader()
        assert node.propose_sync(1, b"f=1") == b""
    finally:
        c.close()


def test_client_from_another_process_view():
    c = Cluster(3, "client")
    try:
        leader = c.leader()
        addresses = [f"127.0.0.1:{p}" for p in c.ports.values()]

        async def run():
            with ringraft.Client(addresses, request_timeout=10) as client:
                assert await client.propose(1, b"c=1") == b""
                assert await client.propose(1, b"c=2") == b"1"
                assert await client.read(1, b"c") == b"2"
                assert (await client.leader(1))[0] == leader
                st = await client.status(1)
                assert st["group"] == 1
                # Its proposals went in a client session (exactly-once).
                assert st["sessions"] == 1
                assert await client.snapshot(1) > 0
                with pytest.raises(ringraft.FailedError) as e:
                    await client.read(1, b"nope")
                assert e.value.code == "NOT_FOUND"

        asyncio.run(run())
        with ringraft.Client(addresses, sessions=False) as plain:
            assert plain.propose_sync(1, b"e=5") == b""
            assert plain.status_sync(1)["sessions"] == 1  # No second session.
        with ringraft.Client(addresses) as client:
            assert client.propose_sync(1, b"d=4") == b""
            assert client.read_sync(1, b"d") == b"4"
            target = next(i for i in c.nodes if i != leader)
            client.transfer_leader_sync(1, target)
            assert client.leader_sync(1)[0] in c.nodes
    finally:
        c.close()
