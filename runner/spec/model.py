"""Typed, frozen spec objects.

The loader (`runner.spec.load`) turns validated YAML into these objects. Everything after
loading (connector, mapping, sync engine, queue, maintenance) reads specs only through them.
Templates stay unrendered strings here: secrets are resolved at request time, never at load.

Why one module of this size: it is only frozen dataclasses, one per spec section, with no
logic beyond small lookups; one file is the map of every spec key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# ---------------------------------------------------------------------------------------------
# Connector specs (suppliers and marketplaces share one shape)


@dataclass(frozen=True)
class AuthSpec:
    """How a request is authenticated. `type` picks a registered auth kind.

    Kinds and their `params` (all values may be templates such as `{{ credentials.api_key }}`):
    - api_key: name, value, in ("header" | "query")
    - bearer: token
    - basic: username, password, fallback ("none" | "query"), query_username, query_password
    - oauth2_client_credentials: token_url, client_id, client_secret, scope
    - iop_hmac_sha256: app_key, app_secret, token, token_param ("session" | "access_token"),
      api_name (the `method` value or a system path)
    - none
    """

    type: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PaginateSpec:
    """How a list operation walks its pages. `type` picks a registered pagination kind.

    Kinds: page_number (page_param, size_param, start, size, total_pages_header,
    total_pages_path, total_path), offset (offset_param, limit_param, size, total_path),
    cursor (cursor_param, cursor_path, total_path), next_url (next_path, total_path),
    link_header (rel, total_path), none.
    Every kind stops on an empty page; `stop_on_short_page` stops on a page shorter than
    `size`; `max_pages` is a hard cap.
    """

    type: str
    params: dict[str, Any] = field(default_factory=dict)
    max_pages: int = 10_000


@dataclass(frozen=True)
class LookupSpec:
    """How a lookup operation is fed known ids.

    `id_in` says where one id (or a joined batch of ids) goes: a query parameter or a
    `{id}` placeholder in the path. `batch_size` > 1 joins ids with `separator` into one
    request (Shopify `ids=`, WooCommerce `include=`).
    """

    id_param: str | None = None  # query parameter name; None means the path has {id}
    batch_size: int = 1
    separator: str = ","
    concurrency: int = 4


@dataclass(frozen=True)
class ClassifyRule:
    """How an error found inside an answer is handled, when `when` is true.

    `as_`: transient (retried with backoff), permanent, retry_after (retried after the
    `delay` expression's seconds), auth_expired (the auth renews its token, then the request
    is sent once more). Expressions read status, headers, body, code and message.
    """

    when: str
    as_: Literal["transient", "permanent", "retry_after", "auth_expired"]
    delay: str | None = None


@dataclass(frozen=True)
class ResponseSpec:
    """Per-connector response rules, beyond plain HTTP status codes.

    Errors inside a 2xx answer are found by value (`error_when`, an expression over status,
    headers and body, with `error_code` and `error_message` expressions and `classify`
    rules), or by the older presence form (`error_path`, `retryable_error_pattern`).
    """

    empty_body: Literal["error", "no_data"] = "error"
    error_when: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    classify: tuple[ClassifyRule, ...] = ()
    error_path: str | None = None  # e.g. "error_response": present means the call failed
    error_code_path: str | None = None
    error_message_path: str | None = None
    retryable_error_pattern: str | None = None  # regex on the error code/message
    rate_limit_reset_header: str | None = None  # e.g. X-Ratelimit-Reset (epoch seconds)


PERIODS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}


@dataclass(frozen=True)
class RateLimitSpec:
    """A budget: at most `requests` in any sliding window of `per` (a name) or `seconds`."""

    requests: int
    per: Literal["second", "minute", "hour", "day"] | None = None
    seconds: float | None = None

    @property
    def period_seconds(self) -> float:
        return float(self.seconds) if self.seconds is not None else PERIODS[self.per or "second"]


@dataclass(frozen=True)
class RetrySpec:
    max_attempts: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    jitter: float = 0.1


@dataclass(frozen=True)
class TimeoutSpec:
    connect: float = 10.0
    read: float = 60.0  # between two bytes
    request: float = 300.0  # one request, connect to last byte
    page: float = 900.0  # one page (a logical call): every attempt and wait between them


@dataclass(frozen=True)
class FormatSpec:
    """The body format of an operation: `json` (paged API answers) or a feed file.

    A feed (`jsonl`, `csv`, `xml`) is one file at a URL, streamed and parsed while it
    arrives (`runner.feeds`), gzip- or zip-compressed or not. Options by type:
    - csv: encoding, delimiter, quote, header (the first row names the columns), columns
      (names given in the spec; with `header` the file's own header row is skipped);
    - xml: record (the path of the record element, local names joined by `/`, e.g.
      `products/product`); attributes and child elements become fields; lists (element
      names always read as a list, even when there is only one);
    - csv and xml: decimal (the decimal separator of numbers, `.` or `,`), thousands (a
      thousands separator to drop from numbers written with `decimal`), decimal_columns
      (the fields read as numbers; default every field that is wholly a number written
      with the decimal separator);
    - every feed: compression (auto: by the file's first bytes), member (the zip member;
      default the first), max_bytes (decompressed size cap), min_records_ratio (a feed with
      fewer records than this share of the last complete one is refused as truncated, and
      an empty one unless it is 0).
    """

    type: Literal["json", "jsonl", "csv", "xml"] = "json"
    compression: Literal["auto", "none", "gzip", "zip"] = "auto"
    member: str | None = None
    encoding: str = "utf-8"
    delimiter: str = ","
    quote: str = '"'
    header: bool = True
    columns: tuple[str, ...] | None = None
    record: str | None = None
    lists: tuple[str, ...] = ()
    decimal: Literal[".", ","] = "."
    thousands: str | None = None
    decimal_columns: tuple[str, ...] | None = None
    max_bytes: int = 4 * 1024**3
    min_records_ratio: float = 0.5

    @property
    def is_feed(self) -> bool:
        return self.type != "json"


@dataclass(frozen=True)
class OperationSpec:
    """One API call shape: a paged list, or a lookup of known ids."""

    name: str
    kind: Literal["list", "lookup"]
    path: str
    method: Literal["GET", "POST"] = "GET"
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    records: str = ""  # dotted path to the record list in the body; "" = body itself
    empty_when: str | None = None  # expression: this answer means "no records"
    id_field: str = "id"  # path of the id inside one record; "." = the record is the id
    paginate: PaginateSpec | None = None
    lookup: LookupSpec | None = None
    mapping: str | None = None  # name of the mapping that turns a record into a row
    auth: AuthSpec | None = None  # overrides the connector auth for this operation
    format: FormatSpec = field(default_factory=FormatSpec)
    budget: str | None = None  # the connector budget its requests spend (None: rate_limit)
    resume: Literal["position", "restart"] = "position"  # restart: positions expire


@dataclass(frozen=True)
class ChangedSinceSpec:
    """A list step that asks only for records changed since this account's last successful
    run of the step (runner/sync/since.py): the time goes in query parameter `param`
    (Shopify `updated_at_min`, WooCommerce `modified_after`), as UTC written with `format`
    (strftime), `overlap_seconds` earlier. The time is the latest `field` (the record's
    modification time) listed by that run, or without `field` when the run began. Without a
    previous run the parameter is left out and the list holds everything."""

    param: str
    field: str | None = None
    format: str = "%Y-%m-%dT%H:%M:%S+00:00"
    overlap_seconds: int = 600


@dataclass(frozen=True)
class StepSpec:
    """One step of a sync type for one connector.

    The first step of a sync type that creates rows upserts; later steps update only their
    own columns on rows matching the key. `ids_from` feeds a lookup with the ids streamed by
    another (list) operation; without it a lookup fans out over the selected known rows.
    `fields` narrows what the step writes (default: every field its mapping maps).
    """

    operation: str
    mapping: str | None = None  # overrides the operation's mapping
    ids_from: str | None = None
    fields: tuple[str, ...] | None = None
    max_reject_ratio: float | None = None  # overrides the sync type's threshold
    changed_since: ChangedSinceSpec | None = None  # a list of what changed since the last run


@dataclass(frozen=True)
class CheckSpec:
    """The one cheap request that tests an account (`sync-runner accounts check`): one
    operation sent once (no pagination, no ids), with `params` added to its own."""

    operation: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReadbackSpec:
    """How a push reads back the values a write set, for links left in doubt by a process
    that died between a request and its commit (runner.push.reconcile): a lookup
    `operation` fed the links' `ids` field; in each record (or each entry of its `each`
    list), `key` equals the link's `key_of` field (default: `ids`), `value` is the shop's
    value and, when set, `location` must equal the link's location."""

    operation: str
    ids: str = "remote_product_id"
    key: str = "id"
    value: str = "value"
    key_of: str | None = None
    each: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class WriteSpec:
    """A marketplace write (runner/push): `batch_size` items a request; with more than one,
    the body is `{wrap: [items]}` and the answer's `results` list holds one entry per item,
    in order, failed when `error` is present in it; with one, the body is `{wrap: item}` (or
    the item) and an HTTP error is that item's error. `item` maps each body field to a path
    in `{link: ..., value: ...}`; `{link.x}` in `path` is filled from the item's link."""

    name: str
    path: str
    item: dict[str, str]
    method: Literal["POST", "PUT"] = "POST"
    batch_size: int = 1
    wrap: str | None = None
    results: str | None = None
    error: str = "error"
    error_code: str = "error.code"
    error_message: str = "error.message"
    budget: str | None = None
    ids_as: Literal["string", "integer"] = "string"  # how the link's remote ids are sent
    readback: ReadbackSpec | None = None


@dataclass(frozen=True)
class MatchSpec:
    """How imported products are linked to a shop's listings: a list operation whose records
    (or the entries of their `each` list: Shopify's variants) carry the SKU; each field names
    the path of a remote id in one listing."""

    operation: str
    each: str | None = None  # a list inside each record holding the listings (variants)
    sku: str = "sku"
    product_id: str = "id"
    variant_id: str | None = None
    inventory_item_id: str | None = None
    location_id: str | None = None
    variations: VariationsSpec | None = None


@dataclass(frozen=True)
class VariationsSpec:
    """Listings nested under some records (WooCommerce variable products): for each record
    whose `when_field` equals `when_value`, a lookup `operation` fed the record's id lists
    its variations; each is a listing of its own (`sku`; `variant_id` read into the link's
    remote_variant_id, the record's id as remote_product_id). The record itself is not."""

    operation: str
    when_field: str = "type"
    when_value: str = "variable"
    sku: str = "sku"
    variant_id: str = "id"


@dataclass(frozen=True)
class ConnectorSpec:
    """A supplier or a marketplace, declared in YAML."""

    name: str
    kind: Literal["supplier", "marketplace"]
    title: str
    base_url: str  # may be a template (marketplaces: `{{ integration.shop_url }}`)
    auth: AuthSpec
    operations: dict[str, OperationSpec]
    syncs: dict[str, tuple[StepSpec, ...]]
    rate_limit: RateLimitSpec | None = None  # the default budget
    budgets: dict[str, RateLimitSpec] = field(default_factory=dict)
    retry: RetrySpec = field(default_factory=RetrySpec)
    timeouts: TimeoutSpec = field(default_factory=TimeoutSpec)
    response: ResponseSpec = field(default_factory=ResponseSpec)
    check: CheckSpec | None = None
    writes: dict[str, WriteSpec] = field(default_factory=dict)
    match: MatchSpec | None = None
    pushes: dict[str, str] = field(default_factory=dict)  # push sync type -> write name
    # push sync type -> the write for links to a variation (remote_variant_id set), if any
    variant_pushes: dict[str, str] = field(default_factory=dict)
    source_file: str = ""


# ---------------------------------------------------------------------------------------------
# Mappings


@dataclass(frozen=True)
class FieldSpec:
    """How one target column is computed from a source record.

    Exactly one of `source` (a dotted/indexed path such as `images[0].url`), `value` (a
    constant) or `expr` (a sandboxed jinja2 expression, e.g. `record.stocks | sum(attribute=
    'quantity')`) is set.
    """

    name: str
    type: Literal["string", "integer", "decimal", "boolean", "datetime", "list", "json"] = "string"
    source: str | None = None
    value: Any = None
    expr: str | None = None
    default: Any = None
    required: bool = False
    map: dict[str, Any] | None = None  # value map applied after reading, before coercion
    map_default: Any = None  # used when a value is not in `map` (None = reject if unmapped)
    hash: bool = True  # include in content_hash
    clamp: bool = False  # a value outside the column's domain is clamped, not rejected


@dataclass(frozen=True)
class MockFieldSpec:
    """One generated source field. Exactly one generator key is set.

    Generators: sequence {start, step}, choice [..], integer {min, max}, decimal {min, max,
    places, as_string}, words [[...], [...]] (one pick per list, joined by a space),
    template "...", expr "...", value <const>, list {count, item: {field specs}} (nested
    records), object {field specs}.
    """

    name: str
    generator: str
    params: Any


@dataclass(frozen=True)
class MockSpec:
    """How to generate source-shaped records offline."""

    count: int
    id_field: str
    fields: tuple[MockFieldSpec, ...]
    seed: int = 0
    envelope: str = ""  # dotted path records are wrapped in for a lookup response, if any


@dataclass(frozen=True)
class MappingSpec:
    name: str
    target: Literal["imported_products", "orders"]
    key: str  # the target column that carries the source id (external_id, platform_order_id)
    fields: tuple[FieldSpec, ...]
    mock: MockSpec | None = None
    source_file: str = ""


# ---------------------------------------------------------------------------------------------
# Sync types


@dataclass(frozen=True)
class PriceRuleSpec:
    """The shop's price: `cost_price` plus `margin_pct`, raised to the next price ending in
    `ending` (0.99: 12.30 -> 12.99), never below `floor`."""

    margin_pct: float
    ending: float | None = None
    floor: float | None = None


@dataclass(frozen=True)
class SyncTypeSpec:
    name: str
    description: str
    target: Literal["imported_products", "orders"]
    source: Literal["supplier", "marketplace"]
    fields: tuple[str, ...]
    creates_rows: bool = False
    stale_after_seconds: int | None = None  # lookups select rows last synced before this
    status_in: tuple[str, ...] | None = None  # lookups select rows in these statuses
    status_not_in: tuple[str, ...] | None = None  # ... and not in these (final statuses)
    max_reject_ratio: float = 0.2
    on_missing: dict[str, Any] | None = None  # values for rows a full listing lacked
    max_missing_ratio: float = 0.2  # the largest share of rows on_missing may change
    push: Literal["stock", "price"] | None = None  # a push to marketplaces (runner/push)
    max_zero_ratio: float = 0.2  # stock push: the largest share of links set to 0 at once
    price_rule: PriceRuleSpec | None = None  # price push: the shop's price from cost_price
    log_icon: str = "🚀"


# ---------------------------------------------------------------------------------------------
# Runner config


@dataclass(frozen=True)
class BackoffSpec:
    base_seconds: float = 30.0
    max_seconds: float = 3600.0
    jitter: float = 0.2


@dataclass(frozen=True)
class QueueSpec:
    lease_seconds: int = 300
    heartbeat_seconds: int = 60
    max_attempts: int = 5
    poll_seconds: float = 1.0
    backoff: BackoffSpec = field(default_factory=BackoffSpec)


@dataclass(frozen=True)
class RetentionSpec:
    activity_logs_days: int = 30
    completed_jobs_days: int = 7
    failed_jobs_days: int = 30
    rejects_days: int = 30
    batch_size: int = 1000


@dataclass(frozen=True)
class ScoreRuleSpec:
    """Add `points` to a product's score when `metric` lies in [min, max).

    Metrics: stock (stock_quantity), margin_pct ((price - cost_price) / price * 100), price,
    days_since_seen (days since a complete listing last saw the product, see
    runner.sync.seen, or a sync wrote or checked it), days_since_sync (age of
    last_synced_at, which an unchanged product keeps).
    """

    name: str
    metric: Literal["stock", "margin_pct", "price", "days_since_seen", "days_since_sync"]
    points: float
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class ScoringSpec:
    base: float = 0.0
    rules: tuple[ScoreRuleSpec, ...] = ()


@dataclass(frozen=True)
class WebhookSpec:
    name: str
    url: str
    secret: str  # template, e.g. "{{ env.SYNC_RUNNER_WEBHOOK_SECRET }}"
    events: tuple[str, ...] = ("job.completed", "job.failed")
    timeout_seconds: float = 5.0
    max_attempts: int = 3
    allow_hosts: tuple[str, ...] = ()  # explicit allowlist for otherwise refused addresses


@dataclass(frozen=True)
class ScheduleSpec:
    """Enqueue `sync_type` one job per active supplier or integration: on a `cron`
    schedule, or `after` each successful job of another sync type (for the same user; a
    push chained after a supplier sync). Exactly one of the two is set."""

    name: str
    sync_type: str
    cron: str | None = None
    priority: int = 0
    after: str | None = None


@dataclass(frozen=True)
class LoggingSpec:
    format: Literal["human", "json"] = "human"
    level: Literal["debug", "info", "warning", "error"] = "info"


@dataclass(frozen=True)
class RunnerSpec:
    database_url: str = "sqlite:///sync-runner.db"
    queue: QueueSpec = field(default_factory=QueueSpec)
    retention: RetentionSpec = field(default_factory=RetentionSpec)
    scoring: ScoringSpec = field(default_factory=ScoringSpec)
    webhooks: tuple[WebhookSpec, ...] = ()
    schedules: tuple[ScheduleSpec, ...] = ()
    logging: LoggingSpec = field(default_factory=LoggingSpec)
    source_file: str = ""


# ---------------------------------------------------------------------------------------------
# Everything, loaded together


@dataclass(frozen=True)
class SpecSet:
    """All specs of one specs directory plus its mappings, cross-checked."""

    runner: RunnerSpec
    sync_types: dict[str, SyncTypeSpec]
    suppliers: dict[str, ConnectorSpec]
    marketplaces: dict[str, ConnectorSpec]
    mappings: dict[str, MappingSpec]

    def connectors_of(self, kind: str) -> dict[str, ConnectorSpec]:
        """The specs an account of `kind` ("supplier" or "marketplace") may name."""
        return self.suppliers if kind == "supplier" else self.marketplaces

    def spec_of(self, kind: str, name: str) -> ConnectorSpec | None:
        """The `kind` spec named `name` (an account's spec), None if there is none."""
        return self.connectors_of(kind).get(name)

    def connector(self, name: str) -> ConnectorSpec:
        if name in self.suppliers:
            return self.suppliers[name]
        return self.marketplaces[name]
