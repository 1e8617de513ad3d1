"""The README's first-organisation command, against the test run's emulator."""
import io

from chalicelib.core.models import Account, Organisation
from chalicelib.people import passwords
from tools import admin_cli


def test_create_org_makes_an_activated_admin_and_prints_the_links(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-unusual-passphrase-42\n"))
    code = admin_cli.main(["create-org", "--name", "Northside Centre", "--admin-email", "Ada@Northside.example.org",
                           "--admin-name", "Ada Admin", "--password-stdin"])
    assert code == 0
    printed = capsys.readouterr().out
    join_link = next(line for line in printed.splitlines() if "account link" in line).split(": ", 1)[1]
    assert "/join/" in join_link and "/signin" in printed
    [org] = [o for o in Organisation.scan() if o.name == "Northside Centre"]
    [admin] = list(Account.query(org.org_id))
    assert (admin.role, admin.status, admin.email) == ("admin", "activated", "ada@northside.example.org")
    assert passwords.verify_password(admin.password_hash, "a-long-unusual-passphrase-42")


def test_a_weak_password_creates_nothing_and_names_the_field(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("password\n"))
    code = admin_cli.main(["create-org", "--name", "Weak Ltd", "--admin-email", "w@weak.example.org",
                           "--password-stdin"])
    assert code == 2
    assert capsys.readouterr().err.startswith("admin: password: ")
    assert not [o for o in Organisation.scan() if o.name == "Weak Ltd"]
