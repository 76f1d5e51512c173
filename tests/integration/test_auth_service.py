import pyotp
import pytest

from polex.agency.schemas import AgencyCreate
from polex.auth.schemas import ApiKeyCreate, UserCreate, UserUpdate
from polex.bootstrap import Node
from polex.domain.agency import AgencyKind
from polex.domain.roles import Role
from polex.errors import AlreadyExists, Forbidden, Unauthenticated, ValidationFailed
from polex.provision import own_agency

PASSWORD = "a long enough password"


def make_user(node: Node, username: str, roles: list[Role]) -> str:
    agency = node.agencies.ensure(own_agency(node.settings))
    return node.auth.create_user(UserCreate(username=username, password=PASSWORD, agency_id=agency.id, roles=roles)).id


def test_login_issues_a_token_that_authenticates(node: Node) -> None:
    user_id = make_user(node, "alice", [Role.INVESTIGATOR])
    token = node.auth.login("alice", PASSWORD)
    principal = node.auth.authenticate(token.access_token)
    assert principal.id == user_id
    assert principal.country == "FRA"
    assert principal.roles == {Role.INVESTIGATOR}
    with pytest.raises(Unauthenticated, match="invalid username or password"):
        node.auth.login("alice", "not the password at all")
    with pytest.raises(Unauthenticated, match="invalid username or password"):
        node.auth.login("nobody", PASSWORD)


def test_lockout_after_repeated_failures_until_an_admin_re_enables(node: Node) -> None:
    make_user(node, "bob", [Role.ANALYST])
    admin_id = make_user(node, "root", [Role.ADMIN])
    admin = node.auth.authenticate(node.auth.login("root", PASSWORD).access_token)
    for _ in range(node.settings.login_attempts_before_lockout):
        with pytest.raises(Unauthenticated):
            node.auth.login("bob", "wrong wrong wrong")
    with pytest.raises(Unauthenticated, match="locked"):
        node.auth.login("bob", PASSWORD)
    bob = next(user for user in node.auth.list_users(admin) if user.username == "bob")
    node.auth.update_user(bob.id, UserUpdate(active=True), admin)
    assert node.auth.login("bob", PASSWORD).access_token
    with pytest.raises(Forbidden):
        node.auth.update_user(admin_id, UserUpdate(active=False), admin)


def test_a_disabled_user_is_refused_at_once(node: Node) -> None:
    make_user(node, "carol", [Role.ANALYST])
    make_user(node, "root", [Role.ADMIN])
    admin = node.auth.authenticate(node.auth.login("root", PASSWORD).access_token)
    token = node.auth.login("carol", PASSWORD).access_token
    carol = next(user for user in node.auth.list_users(admin) if user.username == "carol")
    node.auth.update_user(carol.id, UserUpdate(active=False), admin)
    with pytest.raises(Unauthenticated, match="disabled"):
        node.auth.authenticate(token)


def test_totp_second_factor(node: Node) -> None:
    make_user(node, "dave", [Role.BORDER_OFFICER])
    dave = node.auth.authenticate(node.auth.login("dave", PASSWORD).access_token)
    enrolment = node.auth.begin_totp(dave)
    with pytest.raises(ValidationFailed):
        node.auth.confirm_totp(
            dave,
            enrolment.secret,
            "123456" if pyotp.TOTP(enrolment.secret).now() != "123456" else "654321",
        )
    node.auth.confirm_totp(dave, enrolment.secret, pyotp.TOTP(enrolment.secret).now())
    with pytest.raises(Unauthenticated, match="one-time code"):
        node.auth.login("dave", PASSWORD)
    assert node.auth.login("dave", PASSWORD, pyotp.TOTP(enrolment.secret).now()).access_token


def test_api_keys(node: Node) -> None:
    make_user(node, "root", [Role.ADMIN])
    admin = node.auth.authenticate(node.auth.login("root", PASSWORD).access_token)
    created = node.auth.create_api_key(ApiKeyCreate(name="prometheus", roles=[Role.MONITOR]), admin)
    machine = node.auth.authenticate(created.key)
    assert machine.roles == {Role.MONITOR}
    assert machine.name == "prometheus"
    node.auth.revoke_api_key(created.id, admin)
    with pytest.raises(Unauthenticated, match="revoked"):
        node.auth.authenticate(created.key)
    with pytest.raises(Unauthenticated):
        node.auth.authenticate(created.key[:-3] + "xyz")


def test_user_rules(node: Node, hub_node: Node) -> None:
    make_user(node, "erin", [Role.ANALYST])
    with pytest.raises(AlreadyExists):
        make_user(node, "erin", [Role.ANALYST])
    with pytest.raises(ValidationFailed, match="not available on a national node"):
        make_user(node, "frank", [Role.REVIEWER])
    make_user(hub_node, "frank", [Role.REVIEWER])
    with pytest.raises(ValidationFailed, match="too short"):
        node.auth.create_user(
            UserCreate(
                username="gina",
                password="short",
                agency_id=node.agencies.ensure(own_agency(node.settings)).id,
                roles=[Role.ANALYST],
            )
        )


def test_a_national_node_registers_only_its_own_agencies(node: Node, hub_node: Node) -> None:
    with pytest.raises(Forbidden, match="its own country"):
        node.agencies.create(AgencyCreate(name="Bundeskriminalamt", country="DEU", kind=AgencyKind.POLICE))
    assert (
        hub_node.agencies.create(AgencyCreate(name="NCB Berlin liaison", country="DEU", kind=AgencyKind.NCB)).country
        == "DEU"
    )
