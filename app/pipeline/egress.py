"""Where a pipeline's requests may go: the operator's host allow-list, checked on every connection after DNS.

A pipeline file chooses URLs, so without a policy it could make the worker send its `${env...}` values (API
keys) and signed callback URLs anywhere, cloud metadata endpoints included. The rules:

- `STAGEGATE_EGRESS_HOSTS` lists where requests may go (comma-separated): `api.example.com` (any port),
  `api.example.com:443`, `*.example.com` (subdomains, not the name itself), an address `10.1.2.3`,
  `[fd00::1]:8443`, a network `10.0.0.0/8`, or `*` for any host. Unset: the host and port of `SERVICE_URL`.
- Every connection resolves the name itself, checks the address it will connect to, and connects to exactly
  that address (`EgressBackend`): no window in which DNS can answer differently (rebinding).
- Link-local and metadata addresses (169.254.0.0/16, fe80::/10, fd00:ec2::254, 100.100.100.200, 0.0.0.0/8,
  multicast) are refused even when the name is listed or `*` is given, unless an address or network entry
  covers them. With `STAGEGATE_EGRESS_REFUSE_PRIVATE=true` the same holds for private and loopback ranges.
- `${env.NAME}` values go only to the hosts `STAGEGATE_PIPELINE_ENV_HOSTS` binds NAME to
  (`NAME=host host2;PREFIX*=host`, same host syntax); unset: every exposed variable to the allow-list default.
- No redirects (the activities refuse a 3xx), no proxies from the environment, no Unix sockets.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpcore
import httpx

from app.errors import EgressRefusedError, SettingsError
from app.pipeline.template import parse, refs_in

if TYPE_CHECKING:
    from httpcore import AsyncNetworkStream

    from app.pipeline.types import Pipeline
    from app.runtime.config import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

HOSTS_VAR = "STAGEGATE_EGRESS_HOSTS"
ENV_HOSTS_VAR = "STAGEGATE_PIPELINE_ENV_HOSTS"

# Refused unless an address/network entry lists them: nothing a pipeline should reach by a name or by `*`.
ALWAYS_REFUSED: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.0.0/16",  # IPv4 link-local: AWS/GCP/Azure/OpenStack metadata (169.254.169.254), ECS (169.254.170.2)
        "fe80::/10",  # IPv6 link-local
        "fd00:ec2::254/128",  # AWS instance metadata over IPv6
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "0.0.0.0/8",  # "this network": connecting to 0.0.0.0 reaches the worker's own machine
        "::/128",
        "224.0.0.0/4",  # multicast
        "ff00::/8",
        "255.255.255.255/32",
    )
)
# Refused with STAGEGATE_EGRESS_REFUSE_PRIVATE=true unless listed by address/network.
PRIVATE: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",  # carrier-grade NAT, also used inside some clouds
        "127.0.0.0/8",
        "::1/128",
        "fc00::/7",
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

# host, port -> the addresses DNS gives, in its order. Tests hand in one that answers differently each time.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's resolver (getaddrinfo), as httpcore itself would use it."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def plain_address(ip: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d) or NAT64 (64:ff9b::/96) IPv6 address, else `ip`."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def _in(ip: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    return any(ip.version == n.version and ip in n for n in networks)


@dataclass(frozen=True)
class HostRule:
    """One allow-list entry: a host name (`*.` for subdomains), `*`, or an address/network; optionally a port."""

    text: str
    name: str | None = None  # lower-case, no trailing dot; "*.example.com" keeps its "*."
    network: IPNetwork | None = None
    port: int | None = None

    @property
    def any_host(self) -> bool:
        """`*`: every host name (still not a refused address)."""
        return self.name == "*"

    def _port_ok(self, port: int) -> bool:
        return self.port is None or self.port == port

    def matches_name(self, host: str, port: int) -> bool:
        """This entry lists the host NAME (and port) as written in the URL."""
        if self.name is None or not self._port_ok(port):
            return False
        host = normal_host(host)
        if self.any_host:
            return True
        if self.name.startswith("*."):
            return host.endswith(self.name[1:]) and len(host) > len(self.name) - 1
        return host == self.name

    def matches_address(self, ip: IPAddress, port: int) -> bool:
        """This address/network entry covers `ip` (and port)."""
        return self.network is not None and self._port_ok(port) and _in(plain_address(ip), (self.network,))


def normal_host(host: str) -> str:
    """Lower case, no brackets, no trailing dot: how host names are compared."""
    return host.strip().strip("[]").rstrip(".").lower()


def _port_of(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{text!r} is not a port")
    return int(text)


def parse_rule(text: str) -> HostRule:
    """One entry as written; ValueError says what is wrong with it."""
    raw = text.strip()
    if not raw:
        raise ValueError("an empty host entry")
    if "://" in raw or any(c in raw for c in "?#@ "):
        raise ValueError(f"{raw!r} must be a host, host:port or network, not a URL")
    if "/" in raw:  # a network
        try:
            network = ipaddress.ip_network(raw, strict=False)
        except ValueError as exc:
            raise ValueError(f"{raw!r} is not a network: {exc}") from None
        return HostRule(raw, network=network)
    host, port = raw, None
    if raw.startswith("["):  # [v6] or [v6]:port
        end = raw.find("]")
        if end < 0:
            raise ValueError(f"{raw!r}: unclosed '['")
        host, rest = raw[1:end], raw[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"{raw!r}: expected ':port' after ']'")
            port = _port_of(rest[1:])
    elif raw.count(":") == 1:
        host, port_text = raw.split(":")
        port = _port_of(port_text)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return HostRule(raw, network=ipaddress.ip_network(ip), port=port)
    name = normal_host(host)
    label = name[2:] if name.startswith("*.") else name
    if name != "*" and (not label or not all(part and _label_ok(part) for part in label.split("."))):
        raise ValueError(f"{raw!r} is not a host name, `*.domain`, address, network or `*`")
    return HostRule(raw, name=name, port=port)


def _label_ok(part: str) -> bool:
    return part.isascii() and all(c.isalnum() or c in "-_" for c in part) and not part.startswith("-")


def host_port(url: str) -> tuple[str, int]:
    """The host and port a URL connects to (the scheme's default port when none is written)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("not an http(s) URL with a host")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def default_hosts(service_url: str) -> tuple[str, ...]:
    """The allow-list when none is configured: the service's own host and port (the local stack's service mock)."""
    try:
        host, port = host_port(service_url)
    except ValueError:
        return ()
    return (f"[{host}]:{port}" if ":" in host else f"{host}:{port}",)


def _rules(entries: Sequence[str], var: str) -> tuple[HostRule, ...]:
    try:
        return tuple(parse_rule(entry) for entry in entries)
    except ValueError as exc:
        raise SettingsError(f"{var}: {exc}") from None


@dataclass(frozen=True)
class EnvBinding:
    """`NAME=hosts` or `PREFIX*=hosts` (`*` alone: every exposed variable)."""

    pattern: str
    rules: tuple[HostRule, ...]

    def covers(self, name: str) -> bool:
        """This binding is about variable `name`."""
        if self.pattern.endswith("*"):
            return name.startswith(self.pattern[:-1])
        return name == self.pattern


@dataclass(frozen=True)
class EgressPolicy:
    """The operator's rules for pipeline requests (see the module docstring)."""

    allow: tuple[HostRule, ...]
    env_bindings: tuple[EnvBinding, ...] = ()
    refuse_private: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> EgressPolicy:
        """Compile the settings' entries; SettingsError names the variable and the bad entry."""
        defaults = default_hosts(settings.service_url)
        allow = _rules(settings.egress_hosts if settings.egress_hosts is not None else defaults, HOSTS_VAR)
        raw_bindings: Mapping[str, Sequence[str]] = (
            settings.pipeline_env_hosts if settings.pipeline_env_hosts is not None else {"*": defaults}
        )
        bindings = tuple(EnvBinding(pattern, _rules(hosts, ENV_HOSTS_VAR)) for pattern, hosts in raw_bindings.items())
        return cls(allow=allow, env_bindings=bindings, refuse_private=settings.egress_refuse_private)

    def listed_by_name(self, host: str, port: int) -> bool:
        """The host name (or address literal) and port are on the allow-list, before any DNS."""
        try:
            literal: IPAddress | None = ipaddress.ip_address(normal_host(host))
        except ValueError:
            literal = None
        if literal is not None and any(rule.matches_address(literal, port) for rule in self.allow):
            return True
        return any(rule.matches_name(host, port) for rule in self.allow)

    def address_problem(self, host: str, port: int, ip: IPAddress) -> str | None:
        """Why connecting to `ip` for `host:port` is refused, or None. Messages name host and address only."""
        by_address = any(rule.matches_address(ip, port) for rule in self.allow)
        if not by_address and not any(rule.matches_name(host, port) for rule in self.allow):
            return f"{host}:{port} is not on {HOSTS_VAR}"
        plain = plain_address(ip)
        if by_address:
            return None
        if _in(plain, ALWAYS_REFUSED):
            return (
                f"{host}:{port} resolved to {ip}, a link-local, metadata or otherwise unroutable address; "
                f"only an address or network entry in {HOSTS_VAR} can allow it"
            )
        if self.refuse_private and _in(plain, PRIVATE):
            return (
                f"{host}:{port} resolved to {ip}, a private or loopback address "
                f"(STAGEGATE_EGRESS_REFUSE_PRIVATE); list the address or network in {HOSTS_VAR} to allow it"
            )
        return None

    def env_problem(self, names: Iterable[str], host: str, port: int) -> str | None:
        """Why the values of these `${env...}` variables may not go to `host:port`, or None."""
        for name in sorted(set(names)):
            rules = [rule for binding in self.env_bindings if binding.covers(name) for rule in binding.rules]
            try:
                literal: IPAddress | None = ipaddress.ip_address(normal_host(host))
            except ValueError:
                literal = None
            if any(rule.matches_name(host, port) for rule in rules):
                continue
            if literal is not None and any(rule.matches_address(literal, port) for rule in rules):
                continue
            return f"${{env.{name}}} is not bound to {host}:{port} (see {ENV_HOSTS_VAR})"
        return None

    async def resolve(
        self, host: str, port: int, timeout: float | None, resolver: Resolver = system_resolver
    ) -> list[IPAddress]:
        """The addresses DNS gives that the policy allows, in DNS order; EgressRefusedError if none is."""
        try:
            literal: IPAddress | None = ipaddress.ip_address(normal_host(host))
        except ValueError:
            literal = None
        if literal is not None:
            candidates: list[IPAddress] = [literal]
        else:
            if not self.listed_by_name(host, port) and not any(rule.network for rule in self.allow):
                # Before DNS: a name off the list is never even looked up (unless a network entry may cover it).
                raise EgressRefusedError(f"{host}:{port} is not on {HOSTS_VAR}")
            async with asyncio.timeout(timeout):
                answers = await resolver(host, port)
            # Scoped IPv6 answers (fe80::1%eth0) carry a zone the address parser does not take.
            candidates = [ipaddress.ip_address(answer.split("%", 1)[0]) for answer in answers]
        allowed: list[IPAddress] = []
        first_problem: str | None = None
        for ip in candidates:
            problem = self.address_problem(host, port, ip)
            if problem is None:
                allowed.append(ip)
            else:
                first_problem = first_problem or problem
        if not allowed:
            raise EgressRefusedError(first_problem or f"{host}:{port} did not resolve to any address")
        return allowed


class EgressBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network layer with the policy in front of every TCP connection (and no Unix sockets)."""

    def __init__(self, policy: EgressPolicy, resolver: Resolver = system_resolver) -> None:
        self._policy = policy
        self._resolver = resolver
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        """Resolve, check, then connect only to addresses that were checked (TLS still verifies `host`).

        The allowed addresses are tried in DNS order (a name with an unreachable IPv6 and a working IPv4
        address still connects); an address that was not checked is never tried.
        """
        try:
            addresses = await self._policy.resolve(host, port, timeout, self._resolver)
        except EgressRefusedError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        except (OSError, TimeoutError) as exc:
            raise httpcore.ConnectError(f"{host}:{port}: cannot resolve: {type(exc).__name__}") from exc
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for ip in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(ip), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # resolve() never returns an empty list
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
    ) -> AsyncNetworkStream:
        """Never: pipelines talk TCP to listed hosts only."""
        raise httpcore.ConnectError("unix sockets are not allowed") from EgressRefusedError("unix socket")

    async def sleep(self, seconds: float) -> None:
        """As httpcore's own backend."""
        await self._inner.sleep(seconds)


class EgressTransport(httpx.AsyncHTTPTransport):
    """httpx's transport on a connection pool whose every connection goes through `EgressBackend`."""

    def __init__(
        self, policy: EgressPolicy, *, limits: httpx.Limits | None = None, resolver: Resolver = system_resolver
    ) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        super().__init__(trust_env=False, limits=limits)
        # httpx has no public way to give its pool a network backend; the pool it built is replaced by an
        # identical one that has ours (tests/pipeline/test_egress.py fails if an httpx upgrade changes this).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=EgressBackend(policy, resolver),
        )


def egress_client(policy: EgressPolicy, *, resolver: Resolver = system_resolver) -> httpx.AsyncClient:
    """The HTTP client pipeline activities use: the policy on every connection, no redirects, no env proxies."""
    transport = EgressTransport(policy, resolver=resolver)
    return httpx.AsyncClient(transport=transport, trust_env=False, follow_redirects=False)


def refusal_in(exc: BaseException) -> EgressRefusedError | None:
    """The policy's refusal behind an httpx error, if that is what it was.

    httpx chains httpcore's error as the cause; httpcore re-raises ours inside its own handling, so the refusal
    may sit in `__context__` rather than `__cause__`: both are followed (a bounded walk, no cycles).
    """
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            break
        if isinstance(seen, EgressRefusedError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


# --- What `cli pipeline validate` can say before anything runs --------------------------------------------------

_RUN_VALUE = "\x00"  # stands for a value only the run knows (input, earlier stages, callback URL, ...)


def static_host(url_template: str, env: Mapping[str, str]) -> tuple[str, int] | None:
    """The host and port a URL template reaches with this environment; None when the run decides the host."""
    text: list[str] = []
    for part in parse(url_template):
        if isinstance(part, str):
            text.append(part)
        elif part.root == "env":
            value = env.get(part.path[0], part.default)
            if value is None:
                return None
            text.append(value)
        else:
            text.append(_RUN_VALUE)
    try:
        host, port = host_port("".join(text))
    except ValueError:
        return None
    return None if _RUN_VALUE in host else (host, port)


def pipeline_warnings(pipeline: Pipeline, policy: EgressPolicy, env: Mapping[str, str]) -> list[str]:
    """A line per request, status or fetch this policy would refuse (host off the list, an unbound `${env...}`)."""
    warnings: list[str] = []
    by_network = any(rule.network is not None for rule in policy.allow)
    for spec in pipeline.stages:
        calls = [("request", spec.request.url, spec.request.headers)]
        if spec.status is not None:
            calls.append(("status", spec.status.url, spec.status.headers))
        if spec.fetch is not None:  # notify, then fetch: the GET goes through the same policy
            calls.append(("fetch", spec.fetch.url, spec.fetch.headers))
        for label, url, headers in calls:
            where = f"stage {spec.name}: {label} url"
            found = static_host(url, env)
            if found is None:
                warnings.append(f"{where}: its host comes from the run; the worker checks it when the stage runs")
                continue
            host, port = found
            if not policy.listed_by_name(host, port):
                maybe = " (unless it resolves into a listed network)" if by_network else ""
                warnings.append(f"{where}: {host}:{port} is not on {HOSTS_VAR}{maybe}; the worker will refuse it")
            names = {ref.path[0] for ref in refs_in([url, headers]) if ref.root == "env" and ref.path[0] in env}
            problem = policy.env_problem(names, host, port) if names else None
            if problem is not None:
                warnings.append(f"{where}: {problem}; the worker will refuse it")
    return warnings
