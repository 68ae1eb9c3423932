/**
 * The single table's key design, shared by the CDK stack (infra/) and local mode (local/) so the
 * table created on dynalite is the table deployed on AWS.
 *
 * | item          | pk                              | sk                                                  |
 * |---------------|---------------------------------|-----------------------------------------------------|
 * | build         | `LINE#<line key>`               | `BUILD#<builtAt>#<build>` (sorts builds by date)     |
 * | observation   | `BUILD#<line key>#<build>`      | `OBS#P#<domain>#<host>#<transport>#<data type>`, or  |
 * |               |                                 | `OBS#-#<domain>#<host>#<transport>#-` (no personal data) |
 * | alert         | `ALERTS#<line key>`             | `ALERT#<rule>#<subject>#<data type>`                 |
 * | alert id      | `ALERTID#<alert id>`            | `ALERTID` (line and sort key of the alert)           |
 * | notification  | `OUTBOX`                        | `NOTE#<alert id>#<event>#<build>` (the outbox)       |
 * | session run   | `SESSION#<device>#<session>`    | `RUN#<probe run>` (flows counted of that run)        |
 * | flow ids      | `SESSION#<device>#<session>`    | `IDS#<sequence>#<shard>#<run>` (a batch's flow ids, expire after FLOW_IDS_TTL_DAYS) |
 * | line          | `LINES`                         | `<line key>` (vendor, model, line name, counts)      |
 * | device run    | `DEVICE#<device>`               | `RUN#<builtAt>#<build>#<session>` (a timeline)       |
 * | member        | `MEMBERS#<line key>`            | `BS#`, `BD#`, `LD#`, `LB#` + hashes: a session, device or build counted once in its line and build (core/store/membership.ts) |
 * | layout        | `META`                          | `LAYOUT` (the key layout version the table holds)    |
 *
 * A build's personal-data observations sort apart (`OBS#P#`) from its other destinations
 * (`OBS#-#`), so reading what a build sends never reads the destinations that received nothing.
 *
 * Two sparse indexes answer "which builds ever sent data type X to organisation / country Y"
 * without a Scan: observation items of personal data carry `sentOrg` (`<data type>|<organisation>`),
 * `sentCountry` (`<data type>|<country>`, `ZZ` when unknown) and `sentKey` (`<line key>#<builtAt>#<build>#<host>#<transport>`),
 * projected with the attributes that never change after the item is created, so a flow's count
 * update does not rewrite the index.
 *
 * A third index, `alertsByState` (`state`, `alertOrder` = `<createdAt>#<alert id>`), lists the alerts
 * of every line in one state without a Query per line; only alert items carry `alertOrder`.
 *
 * The table's stream (new images) feeds the notify function, filtered to new alert events (each
 * delivers the notification it joined).
 */
export const TABLE_DESIGN = {
  partitionKey: 'pk',
  sortKey: 'sk',
  timeToLiveAttribute: 'expiresAt',
  /**
   * The version of the key layout; a local table holding another layout is refused with the fix
   * (version 2: personal-data observations apart, the alerts index; version 3: counts exactly once
   * by per-shard watermarks and flow-id chunks instead of flow markers; version 4: the outbox holds
   * alert events grouped into one notification per line, build, organisation and event).
   */
  layoutVersion: 4,
  indexes: {
    sentByOrganisation: {
      indexName: 'sentByOrganisation',
      partitionKey: 'sentOrg',
      sortKey: 'sentKey',
      projection: 'sent',
    },
    sentByCountry: {
      indexName: 'sentByCountry',
      partitionKey: 'sentCountry',
      sortKey: 'sentKey',
      projection: 'sent',
    },
    alertsByState: {
      indexName: 'alertsByState',
      partitionKey: 'state',
      sortKey: 'alertOrder',
      projection: 'all',
    },
  },
  /** Attributes the two `sent` indexes carry besides the keys (none of them changes once written). */
  sentProjection: [
    'line',
    'vendor',
    'model',
    'lineName',
    'build',
    'builtAt',
    'registrableDomain',
    'host',
    'transport',
    'dataType',
    'organisation',
    'country',
  ],
} as const;

/**
 * A session's flow-id chunks outlive the longest Kinesis retention (365 days), so any redelivery
 * or replay of stream data is recognised; a capture re-probed after this long would count again.
 */
export const FLOW_IDS_TTL_DAYS = 400;

/** Delivered notifications are kept this long, then expire (TTL). */
export const NOTIFICATION_TTL_DAYS = 90;
