//! The HTTP API, against SQLite and PostgreSQL (each test runs on both).

mod common;

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use kazashi_protocol::envelope::{self, Audience, CommandClaims, Op};
use kazashi_protocol::jose::{HeaderParams, JwkSet, PrivateKey, PublicKey, jwe, jws};
use kazashi_server::db::Db;
use kazashi_server::keys::{self, KeyRing};
use kazashi_server::registry::{self, Chip, ChipStatus};
use kazashi_server::{AppState, Config, build_router, transactions};
use rand_core::OsRng;
use serde_json::Value;
use tower::ServiceExt;

const ISSUER: &str = "https://kazashi.test";
const WALLET: [u8; 7] = [0xA0, 0x00, 0x00, 0x00, 0x04, 0x10, 0x10];
const CHIP: &str = "0102030405060708";

struct Harness {
    dir: tempfile::TempDir,
    url: String,
    state: AppState,
    router: Router,
    provider: PrivateKey,
}

enum Kind {
    Sqlite,
    Postgres,
}

impl Harness {
    async fn new(kind: Kind) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = match kind {
            Kind::Sqlite => kazashi_server::config::sqlite_url(dir.path()),
            Kind::Postgres => common::fresh_database().await,
        };
        let h = Self::instance(dir, url).await;
        let jwks = JwkSet {
            keys: vec![h.provider.public_key().to_jwk()],
        };
        registry::add_provider(
            &h.state.db,
            "shop",
            jwks.to_json().as_bytes(),
            &[WALLET.to_vec()],
            kazashi_server::now(),
        )
        .await
        .unwrap();
        let chip = Chip {
            id: CHIP.into(),
            kdd: [9; 10],
            kvn: 0x30,
            isd_aid: kazashi_se::state::DEFAULT_ISD_AID.to_vec(),
            key_length: 16,
            s16: false,
            random_challenge: false,
            sequence_counter: 1,
            status: ChipStatus::Active,
        };
        registry::add_chip(&h.state.db, &chip, kazashi_server::now())
            .await
            .unwrap();
        h
    }

    async fn instance(dir: tempfile::TempDir, url: String) -> Self {
        let mut config = Config::new(dir.path(), SocketAddr::from(([127, 0, 0, 1], 0)));
        config.database_url = url.clone();
        config.id = ISSUER.into();
        config.public_url = ISSUER.into();
        let db = Db::connect(&url).await.unwrap();
        let keys = KeyRing::load_or_create(dir.path()).unwrap();
        let state = AppState::new(config, db, keys);
        Self {
            router: build_router(state.clone()),
            state,
            dir,
            url,
            provider: PrivateKey::generate(&mut OsRng),
        }
    }

    /// A second instance on the same database and key files.
    async fn second(&self) -> (AppState, Router) {
        let mut config = self.state.config.clone();
        config.database_url = self.url.clone();
        let db = Db::connect(&self.url).await.unwrap();
        let keys = KeyRing::load_or_create(self.dir.path()).unwrap();
        let state = AppState::new(config, db, keys);
        (state.clone(), build_router(state))
    }

    fn server_enc(&self) -> PublicKey {
        self.state.keys().encryption_public()
    }

    fn claims(&self, ops: Vec<Op>) -> CommandClaims {
        let now = kazashi_server::now();
        CommandClaims {
            iss: "shop".into(),
            aud: Audience::One(ISSUER.into()),
            jti: format!("jti-{}", rand_id()),
            iat: now,
            exp: now + 300,
            nbf: None,
            sub: Some(CHIP.into()),
            ops,
        }
    }

    fn seal(&self, claims: &CommandClaims) -> String {
        envelope::seal_command(claims, &self.provider, &self.server_enc(), &mut OsRng).unwrap()
    }

    async fn post(
        &self,
        router: &Router,
        body: Vec<u8>,
        content_type: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = Request::post("/v1/transactions");
        if let Some(ct) = content_type {
            request = request.header(header::CONTENT_TYPE, ct);
        }
        let response = router
            .clone()
            .oneshot(request.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn register(&self, token: &str) -> (StatusCode, Value) {
        self.post(
            &self.router,
            token.as_bytes().to_vec(),
            Some("application/jose"),
        )
        .await
    }

    async fn get(&self, path: &str) -> (StatusCode, Vec<u8>, String) {
        let response = self
            .router
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let ct = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, bytes.to_vec(), ct)
    }
}

fn rand_id() -> String {
    use rand_core::RngCore;
    format!("{:016x}", OsRng.next_u64())
}

fn get_op() -> Op {
    Op::Get {
        record: "name".into(),
    }
}

fn apdu(aid: &[u8], capdu: &[u8]) -> Op {
    Op::Apdu {
        aid: aid.to_vec(),
        capdu: capdu.to_vec(),
    }
}

fn refused(code: &str, expected: StatusCode, got: (StatusCode, Value)) {
    assert_eq!(got.0, expected, "{code}: {}", got.1);
    assert_eq!(got.1["error"], code, "{}", got.1);
    assert!(got.1["message"].is_string());
}

async fn discovery_and_jwks(h: Harness) {
    let (status, body, _) = h.get("/.well-known/kazashi").await;
    assert_eq!(status, StatusCode::OK);
    let meta: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(meta["issuer"], ISSUER);
    assert_eq!(meta["jwks_uri"], format!("{ISSUER}/.well-known/jwks.json"));
    assert_eq!(
        meta["transactions_endpoint"],
        format!("{ISSUER}/v1/transactions")
    );
    assert_eq!(meta["relay_endpoint"], format!("{ISSUER}/launch"));
    let (status, body, ct) = h.get("/.well-known/jwks.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ct, "application/jwk-set+json");
    let set = JwkSet::from_json(&body).unwrap();
    assert_eq!(set.keys.len(), 2);
    let keys = h.state.keys();
    let sig = set.find(&keys.signing().kid).unwrap();
    assert_eq!(sig.use_.as_deref(), Some("sig"));
    assert_eq!(sig.alg.as_deref(), Some("ES256"));
    assert!(sig.d.is_none());
    assert_eq!(
        PublicKey::from_jwk(sig).unwrap().thumbprint(),
        keys.signing().kid
    );
    let enc = set.find(&keys.encryption().kid).unwrap();
    assert_eq!(enc.use_.as_deref(), Some("enc"));
    assert_eq!(enc.alg.as_deref(), Some("ECDH-ES+A256KW"));
    assert!(enc.d.is_none());
    let (status, _, _) = h.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = h.get("/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn register_then_result(h: Harness) {
    let claims = h.claims(vec![
        get_op(),
        apdu(&WALLET, &[0x00, 0xB0, 0x00, 0x00, 0x10]),
    ]);
    let (status, body) = h.register(&h.seal(&claims)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    // The chip is named: the first script travels in the fragment (docs/relay.md).
    let launch =
        kazashi_protocol::online::Launch::parse(body["launch_url"].as_str().unwrap()).unwrap();
    assert!(launch.script.is_some());
    let token = launch
        .url
        .strip_prefix(&format!("{ISSUER}/launch/"))
        .unwrap();
    assert_eq!(token.len(), 43);
    let expires = body["expires_at"].as_u64().unwrap();
    assert!(expires <= claims.exp && expires <= kazashi_server::now() + 120);

    let (status, body, _) = h.get(&format!("/v1/transactions/{id}/result")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["error"],
        "pending"
    );
    let (status, body, _) = h.get("/v1/transactions/nope/result").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["error"],
        "unknown_transaction"
    );

    // The launch token is single-use.
    let now = kazashi_server::now();
    assert_eq!(
        transactions::consume_launch(&h.state.db, token, now)
            .await
            .unwrap(),
        Some(id.clone())
    );
    assert_eq!(
        transactions::consume_launch(&h.state.db, token, now)
            .await
            .unwrap(),
        None
    );

    // Once done, the result is served as application/jose.
    assert!(
        transactions::finish(
            &h.state.db,
            &id,
            transactions::COMPLETED,
            "a.b.c",
            None,
            None,
            now
        )
        .await
        .unwrap()
    );
    let (status, body, ct) = h.get(&format!("/v1/transactions/{id}/result")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ct, "application/jose");
    assert_eq!(body, b"a.b.c");

    let (_, metrics, ct) = h.get("/metrics").await;
    assert!(ct.starts_with("text/plain"));
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("kazashi_transactions{state=\"completed\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("kazashi_http_request_duration_seconds_bucket"));
}

async fn hand_built_jose(h: Harness) {
    let now = kazashi_server::now();
    let payload = serde_json::json!({
        "iss": "shop", "aud": [ISSUER, "other"], "jti": rand_id(), "iat": now, "exp": now + 60,
        "ops": [{"op": "add", "counter": "points", "amount": 5}]
    });
    let signed = jws::sign(
        &HeaderParams::new()
            .with_typ("kazashi-command+jwt")
            .with_kid(h.provider.public_key().thumbprint()),
        payload.to_string().as_bytes(),
        &h.provider,
    )
    .unwrap();
    let sealed = jwe::encrypt(
        signed.as_bytes(),
        &h.server_enc(),
        jwe::KeyManagement::EcdhEsA256Kw,
        &HeaderParams::new()
            .with_cty("JWT")
            .with_kid(h.server_enc().thumbprint()),
        &mut OsRng,
    )
    .unwrap();
    let (status, body) = h.register(&sealed).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn replay_expired_unknown_key(h: Harness) {
    let token = h.seal(&h.claims(vec![get_op()]));
    assert_eq!(h.register(&token).await.0, StatusCode::CREATED);
    refused("replayed", StatusCode::CONFLICT, h.register(&token).await);

    let mut claims = h.claims(vec![get_op()]);
    claims.iat -= 1000;
    claims.exp = claims.iat + 300;
    refused(
        "expired",
        StatusCode::UNAUTHORIZED,
        h.register(&h.seal(&claims)).await,
    );

    let stranger = PrivateKey::generate(&mut OsRng);
    let claims = h.claims(vec![get_op()]);
    let token = envelope::seal_command(&claims, &stranger, &h.server_enc(), &mut OsRng).unwrap();
    refused(
        "unknown_key",
        StatusCode::UNAUTHORIZED,
        h.register(&token).await,
    );

    // Sealed to a key the server does not have.
    let token =
        envelope::seal_command(&claims, &h.provider, &stranger.public_key(), &mut OsRng).unwrap();
    refused(
        "unknown_key",
        StatusCode::UNAUTHORIZED,
        h.register(&token).await,
    );

    let mut claims = h.claims(vec![get_op()]);
    claims.aud = Audience::One("https://elsewhere".into());
    refused(
        "wrong_audience",
        StatusCode::UNAUTHORIZED,
        h.register(&h.seal(&claims)).await,
    );

    // Tampered: one character of the ciphertext changed.
    let token = h.seal(&h.claims(vec![get_op()]));
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let c = parts[3].remove(0);
    parts[3].insert(0, if c == 'A' { 'B' } else { 'A' });
    let got = h.register(&parts.join(".")).await;
    assert!(
        got.0 == StatusCode::UNAUTHORIZED || got.0 == StatusCode::BAD_REQUEST,
        "{}",
        got.1
    );

    // A signed but unsealed command.
    let signed = envelope::sign_command(&h.claims(vec![get_op()]), &h.provider).unwrap();
    refused(
        "not_sealed",
        StatusCode::BAD_REQUEST,
        h.register(&signed).await,
    );
}

async fn chips_and_providers(h: Harness) {
    let now = kazashi_server::now();
    let mut claims = h.claims(vec![get_op()]);
    claims.sub = Some("FFFF".into());
    refused(
        "unknown_chip",
        StatusCode::UNPROCESSABLE_ENTITY,
        h.register(&h.seal(&claims)).await,
    );

    registry::set_chip_status(&h.state.db, CHIP, ChipStatus::Suspended, now)
        .await
        .unwrap();
    refused(
        "chip_suspended",
        StatusCode::FORBIDDEN,
        h.register(&h.seal(&h.claims(vec![get_op()]))).await,
    );
    registry::set_chip_status(&h.state.db, CHIP, ChipStatus::Active, now)
        .await
        .unwrap();
    assert_eq!(
        h.register(&h.seal(&h.claims(vec![get_op()]))).await.0,
        StatusCode::CREATED
    );
    registry::set_chip_status(&h.state.db, CHIP, ChipStatus::Retired, now)
        .await
        .unwrap();
    refused(
        "chip_retired",
        StatusCode::FORBIDDEN,
        h.register(&h.seal(&h.claims(vec![get_op()]))).await,
    );
    assert!(
        registry::set_chip_status(&h.state.db, CHIP, ChipStatus::Active, now)
            .await
            .is_err()
    );

    // No chip named: accepted.
    let mut claims = h.claims(vec![get_op()]);
    claims.sub = None;
    assert_eq!(h.register(&h.seal(&claims)).await.0, StatusCode::CREATED);

    registry::remove_provider(&h.state.db, "shop", now)
        .await
        .unwrap();
    refused(
        "provider_inactive",
        StatusCode::FORBIDDEN,
        h.register(&h.seal(&claims)).await,
    );
}

async fn policy_violations(h: Harness) {
    let isd = kazashi_se::state::DEFAULT_ISD_AID;
    let cases: &[(&str, Op)] = &[
        ("apdu_to_isd", apdu(&isd, &[0x80, 0xCA, 0x00, 0x66, 0x00])),
        ("apdu_to_isd", apdu(&isd[..5], &[0x00, 0xB0, 0x00, 0x00])),
        (
            "apdu_to_idstore",
            apdu(&kazashi_protocol::idstore::AID, &[0x80, 0xD2, 0x00, 0x00]),
        ),
        (
            "aid_not_allowed",
            apdu(&[0xA0, 0, 0, 0, 9], &[0x00, 0xB0, 0x00, 0x00]),
        ),
        (
            "apdu_card_management",
            apdu(&WALLET, &[0x80, 0xE4, 0x00, 0x00, 0x00]),
        ),
        (
            "apdu_card_management",
            apdu(&WALLET, &[0x84, 0xD8, 0x30, 0x81, 0x00]),
        ),
        (
            "apdu_card_management",
            apdu(&WALLET, &[0x80, 0x50, 0x30, 0x00, 0x00]),
        ),
        (
            "apdu_select",
            apdu(&WALLET, &[0x00, 0xA4, 0x04, 0x00, 0x00]),
        ),
        (
            "apdu_manage_channel",
            apdu(&WALLET, &[0x00, 0x70, 0x00, 0x00, 0x01]),
        ),
        (
            "apdu_logical_channel",
            apdu(&WALLET, &[0x01, 0xB0, 0x00, 0x00]),
        ),
    ];
    for (code, op) in cases {
        let claims = h.claims(vec![get_op(), op.clone()]);
        refused(
            code,
            StatusCode::FORBIDDEN,
            h.register(&h.seal(&claims)).await,
        );
    }
    let (_, metrics, _) = h.get("/metrics").await;
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("kazashi_registrations_refused_total{code=\"apdu_select\"} 1"),
        "{metrics}"
    );
}

async fn malformed_requests(h: Harness) {
    let token = h.seal(&h.claims(vec![get_op()]));
    refused(
        "unsupported_media_type",
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        h.post(
            &h.router,
            token.clone().into_bytes(),
            Some("application/json"),
        )
        .await,
    );
    refused(
        "unsupported_media_type",
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        h.post(&h.router, token.into_bytes(), None).await,
    );
    let big = vec![b'A'; kazashi_protocol::jose::MAX_TOKEN_LEN + 1];
    refused(
        "body_too_large",
        StatusCode::PAYLOAD_TOO_LARGE,
        h.post(&h.router, big, Some("application/jose")).await,
    );
    refused(
        "malformed_request",
        StatusCode::BAD_REQUEST,
        h.post(&h.router, vec![0xFF, 0xFE], Some("application/jose"))
            .await,
    );
    refused(
        "malformed_request",
        StatusCode::BAD_REQUEST,
        h.post(&h.router, Vec::new(), Some("application/jose"))
            .await,
    );
    refused(
        "not_sealed",
        StatusCode::BAD_REQUEST,
        h.register("not-a-token").await,
    );
    refused(
        "invalid_base64",
        StatusCode::BAD_REQUEST,
        h.register("a.b.c.d.e").await,
    );
}

async fn key_rotation(h: Harness) {
    let old_enc = h.server_enc();
    let old_sig = h.state.keys().signing().kid.clone();
    let (new_sig, new_enc) = keys::rotate(h.dir.path()).unwrap();
    assert_ne!(new_sig, old_sig);
    let (_, body, _) = h.get("/.well-known/jwks.json").await;
    let set = JwkSet::from_json(&body).unwrap();
    assert_eq!(set.keys.len(), 4);
    for kid in [&old_sig, &new_sig, &old_enc.thumbprint(), &new_enc] {
        assert!(set.find(kid).is_some(), "{kid}");
    }
    assert_eq!(h.state.keys().signing().kid, new_sig);
    // A command sealed to the old key still opens; one sealed to the new key too.
    let claims = h.claims(vec![get_op()]);
    let token = envelope::seal_command(&claims, &h.provider, &old_enc, &mut OsRng).unwrap();
    assert_eq!(h.register(&token).await.0, StatusCode::CREATED);
    assert_eq!(
        h.register(&h.seal(&h.claims(vec![get_op()]))).await.0,
        StatusCode::CREATED
    );
    // A second instance started later (or that never saw the rotation) also opens both.
    let (_, router) = h.second().await;
    let token =
        envelope::seal_command(&h.claims(vec![get_op()]), &h.provider, &old_enc, &mut OsRng)
            .unwrap();
    let (status, body) = h
        .post(&router, token.into_bytes(), Some("application/jose"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn two_instances_share_replay(h: Harness) {
    let (_, other) = h.second().await;
    let token = h.seal(&h.claims(vec![get_op()]));
    assert_eq!(h.register(&token).await.0, StatusCode::CREATED);
    refused(
        "replayed",
        StatusCode::CONFLICT,
        h.post(&other, token.into_bytes(), Some("application/jose"))
            .await,
    );
    // And the other way round.
    let token = h.seal(&h.claims(vec![get_op()]));
    let (status, _) = h
        .post(&other, token.clone().into_bytes(), Some("application/jose"))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    refused("replayed", StatusCode::CONFLICT, h.register(&token).await);
}

/// Pages on other origins may call the public endpoints (a web relay, a page verifying a
/// result); the operators' endpoints stay same-origin.
async fn cross_origin_requests(h: Harness) {
    let send = |request: Request<Body>| {
        let router = h.router.clone();
        async move { router.oneshot(request).await.unwrap() }
    };
    for (path, method) in [
        ("/launch/abc", "POST"),
        ("/v1/transactions", "POST"),
        ("/.well-known/jwks.json", "GET"),
    ] {
        let preflight = send(
            Request::options(path)
                .header(header::ORIGIN, "https://relay.example")
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, method)
                .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(preflight.status(), StatusCode::NO_CONTENT, "{path}");
        let headers = preflight.headers();
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(
            headers[header::ACCESS_CONTROL_ALLOW_METHODS]
                .to_str()
                .unwrap()
                .contains(method)
        );
        assert!(
            headers[header::ACCESS_CONTROL_ALLOW_HEADERS]
                .to_str()
                .unwrap()
                .contains("content-type")
        );
        assert!(!headers.contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS));
    }
    // Answers, refusals included, are shareable.
    let refused = send(
        Request::post("/launch/unknown")
            .header(header::ORIGIN, "https://relay.example")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"chip":"01"}"#))
            .unwrap(),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    assert_eq!(refused.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    let jwks = send(
        Request::get("/.well-known/jwks.json")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(jwks.status(), StatusCode::OK);
    assert_eq!(jwks.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    // Operators' endpoints: no CORS.
    for path in ["/metrics", "/healthz"] {
        let response = send(
            Request::options(path)
                .header(header::ORIGIN, "https://relay.example")
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert!(
            !response
                .headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN),
            "{path}"
        );
        let response = send(Request::get(path).body(Body::empty()).unwrap()).await;
        assert!(
            !response
                .headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN),
            "{path}"
        );
    }
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Harness::new(super::Kind::Sqlite).await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if crate::common::skip_postgres() {
                        eprintln!("KAZASHI_SKIP_POSTGRES=1: skipped");
                        return;
                    }
                    super::$name(super::Harness::new(super::Kind::Postgres).await).await;
                }
            )*
        }
    };
}

on_both!(
    discovery_and_jwks,
    register_then_result,
    hand_built_jose,
    replay_expired_unknown_key,
    chips_and_providers,
    policy_violations,
    malformed_requests,
    key_rotation,
    two_instances_share_replay,
    cross_origin_requests,
);
