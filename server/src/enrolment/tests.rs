//! The token rules alone, then the holes of issue 12 against a real (SQLite) state store:
//! a revoked device re-enrolling with its old token, a factory token taking an enrolled or
//! revoked id, an expired or used-up token, and racing enrolments with a one-use token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use super::*;
use crate::error::ApiError;
use crate::storage::SqlState;

fn now() -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_800_000_000).unwrap()
}

fn request(device_id: Option<&str>, uses: Option<TokenUses>) -> EnrolmentTokenRequest {
    EnrolmentTokenRequest {
        product: "acme-cam".into(),
        device_id: device_id.map(String::from),
        expires_in: None,
        expires_at: None,
        uses,
        drill: false,
    }
}

#[test]
fn a_token_lives_seven_days_by_default_and_a_per_device_token_is_one_use() {
    let (expires, uses) = token_terms(&request(Some("cam-1"), None), now()).unwrap();
    assert_eq!(expires, now() + DEFAULT_LIFETIME);
    assert_eq!(DEFAULT_LIFETIME.as_secs(), 7 * 86_400);
    assert_eq!(uses, Some(1));
    let one = token_terms(&request(Some("cam-1"), Some(TokenUses::Count(1))), now());
    assert_eq!(one.unwrap().1, Some(1));
    for more in [TokenUses::Count(2), TokenUses::UNLIMITED] {
        let refused = token_terms(&request(Some("cam-1"), Some(more)), now());
        assert!(matches!(refused, Err(EnrolmentError::BadUses(_))), "{more}");
    }
}

#[test]
fn a_product_token_has_the_uses_it_names_or_unlimited() {
    let uses = |u| token_terms(&request(None, u), now()).map(|t| t.1);
    assert_eq!(uses(Some(TokenUses::Count(500))).unwrap(), Some(500));
    assert_eq!(uses(Some(TokenUses::UNLIMITED)).unwrap(), None);
    assert_eq!(uses(None).unwrap(), None, "the documented default");
    assert!(matches!(
        uses(Some(TokenUses::Count(0))),
        Err(EnrolmentError::BadUses(_))
    ));
    assert_eq!("unlimited".parse(), Ok(TokenUses::UNLIMITED));
    assert_eq!("12".parse(), Ok(TokenUses::Count(12)));
    assert!("0".parse::<TokenUses>().is_err() && "many".parse::<TokenUses>().is_err());
    let json: EnrolmentTokenRequest =
        serde_json::from_str(r#"{"product": "p", "uses": "unlimited"}"#).unwrap();
    assert_eq!(json.uses, Some(TokenUses::UNLIMITED));
    let json: EnrolmentTokenRequest =
        serde_json::from_str(r#"{"product": "p", "uses": 3}"#).unwrap();
    assert_eq!(json.uses, Some(TokenUses::Count(3)));
    assert!(
        serde_json::from_str::<EnrolmentTokenRequest>(r#"{"product": "p", "uses": "x"}"#).is_err()
    );
}

#[test]
fn an_expiry_is_in_the_future_and_given_one_way() {
    let mut req = request(None, None);
    req.expires_in = Some("12h".into());
    assert_eq!(
        token_terms(&req, now()).unwrap().0,
        now() + jiff::SignedDuration::from_hours(12)
    );
    req.expires_at = Some(now() + jiff::SignedDuration::from_hours(1));
    assert!(matches!(
        token_terms(&req, now()),
        Err(EnrolmentError::BadExpiry(_))
    ));
    req.expires_in = None;
    assert!(token_terms(&req, now()).is_ok());
    req.expires_at = Some(now());
    assert!(matches!(
        token_terms(&req, now()),
        Err(EnrolmentError::BadExpiry(_))
    ));
    for (text, secs) in [("7d", 604_800), ("30m", 1_800), (" 2h ", 7_200)] {
        assert_eq!(parse_lifetime(text).unwrap().as_secs(), secs, "{text}");
    }
    for bad in [
        "",
        "d",
        "0d",
        "-1h",
        "7",
        "7w",
        "1.5h",
        "7é",
        "99999999999999999d",
    ] {
        assert!(parse_lifetime(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn a_token_state_names_why_it_no_longer_enrols() {
    let mut t = EnrolmentToken {
        id: "i".into(),
        token_sha256: "h".into(),
        product: "acme-cam".into(),
        device_id: None,
        created: now(),
        expires: now() + jiff::SignedDuration::from_hours(1),
        uses_left: Some(1),
        revoked: false,
        drill: false,
    };
    assert_eq!(token_state(&t, now()), "active");
    t.uses_left = Some(0);
    assert_eq!(token_state(&t, now()), "used_up");
    assert_eq!(token_state(&t, t.expires), "expired");
    t.revoked = true;
    assert_eq!(token_state(&t, t.expires), "revoked");
}

async fn store(dir: &tempfile::TempDir) -> Arc<SqlState> {
    Arc::new(
        SqlState::open_sqlite(&dir.path().join("state.db"))
            .await
            .unwrap(),
    )
}

async fn token(state: &SqlState, device_id: Option<&str>, uses: Option<TokenUses>) -> String {
    token_and_id(state, device_id, uses).await.0
}

async fn token_and_id(
    state: &SqlState,
    device_id: Option<&str>,
    uses: Option<TokenUses>,
) -> (String, String) {
    let (token, stored) = new_token(state, &request(device_id, uses), now())
        .await
        .unwrap();
    (token, stored.id)
}

async fn enrol_at(
    state: &SqlState,
    id: &str,
    token: &str,
    at: jiff::Timestamp,
) -> Result<(EnrolResponse, DeviceCredential), EnrolmentError> {
    let req = EnrolRequest {
        token: token.into(),
        product: "acme-cam".into(),
        credential: None,
    };
    enrol_device(state, id.into(), req, at).await
}

async fn enrol(state: &SqlState, id: &str, token: &str) -> Result<(), EnrolmentError> {
    enrol_at(state, id, token, now()).await.map(|_| ())
}

fn refused(r: Result<(), EnrolmentError>) -> Refusal {
    match r {
        Err(EnrolmentError::Refused(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_revoked_device_does_not_come_back_with_its_old_token() {
    let dir = tempfile::tempdir().unwrap();
    let state = store(&dir).await;
    let factory = token(&state, None, Some(TokenUses::UNLIMITED)).await;
    let own = token(&state, Some("cam-2"), None).await;
    enrol(&state, "cam-1", &factory).await.unwrap();
    enrol(&state, "cam-2", &own).await.unwrap();
    for id in ["cam-1", "cam-2"] {
        assert!(state.revoke_device(id).await.unwrap());
    }
    refused(enrol(&state, "cam-1", &factory).await);
    refused(enrol(&state, "cam-2", &own).await);
    let creds = state.credentials().await.unwrap();
    assert!(creds.iter().all(|c| c.revoked), "still revoked: {creds:?}");

    // an operator reinstates cam-1: it enrols again with a token, its old credential is gone
    assert!(state.reinstate_device("cam-1").await.unwrap());
    assert!(
        !state.reinstate_device("cam-1").await.unwrap(),
        "not revoked now"
    );
    let (_, fresh) = enrol_at(&state, "cam-1", &factory, now()).await.unwrap();
    let creds = state.credentials().await.unwrap();
    let cam1 = creds.iter().find(|c| c.device_id == "cam-1").unwrap();
    assert_eq!(cam1, &fresh);
}

#[tokio::test]
async fn a_factory_token_never_takes_an_enrolled_or_revoked_id() {
    let dir = tempfile::tempdir().unwrap();
    let state = store(&dir).await;
    let first = token(&state, None, Some(TokenUses::UNLIMITED)).await;
    let (other, other_id) = token_and_id(&state, None, Some(TokenUses::Count(5))).await;
    enrol(&state, "cam-1", &first).await.unwrap();
    enrol(&state, "cam-2", &first).await.unwrap();
    state.revoke_device("cam-2").await.unwrap();
    assert_eq!(
        refused(enrol(&state, "cam-1", &other).await),
        Refusal::DeviceKnown
    );
    assert_eq!(
        refused(enrol(&state, "cam-2", &other).await),
        Refusal::DeviceKnown
    );
    // the refused attempts did not use the token up
    let tokens = state.enrolment_tokens().await.unwrap();
    let left = tokens.iter().find(|t| t.id == other_id).unwrap().uses_left;
    assert_eq!(left, Some(5));
    let creds = state.credentials().await.unwrap();
    assert_eq!(creds.len(), 2);
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let state = store(&dir).await;
    let factory = token(&state, None, Some(TokenUses::UNLIMITED)).await;
    let late = now() + DEFAULT_LIFETIME;
    let r = enrol_at(&state, "cam-1", &factory, late).await.map(|_| ());
    assert_eq!(refused(r), Refusal::NoUsableToken);
    let just_in_time = late - jiff::SignedDuration::from_secs(1);
    enrol_at(&state, "cam-1", &factory, just_in_time)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_one_use_token_used_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let state = store(&dir).await;
    let once = token(&state, None, Some(TokenUses::Count(1))).await;
    enrol(&state, "cam-1", &once).await.unwrap();
    assert_eq!(
        refused(enrol(&state, "cam-2", &once).await),
        Refusal::NoUsableToken
    );
    let own = token(&state, Some("cam-3"), None).await;
    enrol(&state, "cam-3", &own).await.unwrap();
    // revoked and reinstated: the used per-device token still does not enrol it
    state.revoke_device("cam-3").await.unwrap();
    state.reinstate_device("cam-3").await.unwrap();
    assert_eq!(
        refused(enrol(&state, "cam-3", &own).await),
        Refusal::NoUsableToken
    );
    // a revoked token neither
    let (revoked, id) = token_and_id(&state, None, Some(TokenUses::UNLIMITED)).await;
    state.revoke_enrolment_token(&id).await.unwrap();
    assert_eq!(
        refused(enrol(&state, "cam-4", &revoked).await),
        Refusal::NoUsableToken
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_enrolments_with_a_one_use_token_give_one_credential() {
    let dir = tempfile::tempdir().unwrap();
    race_one_use_token(store(&dir).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_enrolments_with_a_one_use_token_give_one_credential_postgres() {
    let name = "racing_enrolments_with_a_one_use_token_give_one_credential_postgres";
    let Some(url) = crate::storage::tests::postgres_db(name).await else {
        return;
    };
    race_one_use_token(Arc::new(SqlState::open_url(&url, 8).await.unwrap())).await;
}

/// Eight enrolments race for one use, for eight ids and for one: exactly one credential.
async fn race_one_use_token(state: Arc<SqlState>) {
    for (device, same_id) in [(None, false), (Some("cam-x"), true)] {
        let once = token(&state, device, Some(TokenUses::Count(1))).await;
        let before = state.credentials().await.unwrap().len();
        let racers: Vec<_> = (0..8)
            .map(|i| {
                let (state, once) = (state.clone(), once.clone());
                let id = if same_id {
                    "cam-x".to_string()
                } else {
                    format!("cam-{i}")
                };
                tokio::spawn(async move { enrol(&state, &id, &once).await })
            })
            .collect();
        let mut won = 0;
        for r in racers {
            match r.await.unwrap() {
                Ok(()) => won += 1,
                Err(EnrolmentError::Refused(_)) => {}
                Err(e) => panic!("a racer failed instead of being refused: {e}"),
            }
        }
        assert_eq!(won, 1, "same id: {same_id}");
        assert_eq!(state.credentials().await.unwrap().len(), before + 1);
    }
}

#[tokio::test]
async fn every_refused_enrolment_gets_the_same_answer() {
    let dir = tempfile::tempdir().unwrap();
    let state = store(&dir).await;
    let factory = token(&state, None, Some(TokenUses::UNLIMITED)).await;
    let own = token(&state, Some("cam-9"), None).await;
    let once = token(&state, None, Some(TokenUses::Count(1))).await;
    enrol(&state, "cam-1", &factory).await.unwrap();
    enrol(&state, "cam-2", &factory).await.unwrap();
    enrol(&state, "cam-3", &once).await.unwrap();
    state.revoke_device("cam-2").await.unwrap();
    let other_product = EnrolRequest {
        token: factory.clone(),
        product: "acme-old".into(),
        credential: None,
    };
    let attempts = vec![
        enrol(&state, "cam-5", "not-a-token").await,
        enrol(&state, "cam-1", &factory).await,
        enrol(&state, "cam-2", &factory).await,
        enrol(&state, "cam-5", &own).await,
        enrol(&state, "cam-5", &once).await,
        enrol_at(&state, "cam-5", &factory, now() + DEFAULT_LIFETIME)
            .await
            .map(|_| ()),
        enrol_device(state.as_ref(), "cam-5".into(), other_product, now())
            .await
            .map(|_| ()),
    ];
    let answers: Vec<(u16, &str, String)> = attempts
        .into_iter()
        .map(|r| {
            let e = ApiError::from(r.unwrap_err());
            (e.status.as_u16(), e.code, e.message)
        })
        .collect();
    assert_eq!(answers[0], (403, "enrolment_refused", REFUSED.to_string()));
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:#?}");
}

/// Issue 14: a drill token's devices are drill devices (their credential says so, stored and
/// read back); an ordinary token's are not.
#[tokio::test]
async fn a_drill_token_enrols_drill_devices_only() {
    let dir = tempfile::tempdir().unwrap();
    let state = store(&dir).await;
    let drill_request = EnrolmentTokenRequest {
        drill: true,
        ..request(None, Some(TokenUses::Count(2)))
    };
    let (drill_token, stored) = new_token(state.as_ref(), &drill_request, now())
        .await
        .unwrap();
    assert!(stored.drill);
    assert!(state.enrolment_tokens().await.unwrap()[0].drill);
    let ordinary = token(&state, None, Some(TokenUses::Count(1))).await;
    let (answer, record) = enrol_at(&state, "drill-1", &drill_token, now())
        .await
        .unwrap();
    assert!(answer.drill && record.drill);
    let (answer, record) = enrol_at(&state, "cam-1", &ordinary, now()).await.unwrap();
    assert!(!answer.drill && !record.drill);
    let mut stored: Vec<(String, bool)> = state
        .credentials()
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.device_id, c.drill))
        .collect();
    stored.sort();
    assert_eq!(
        stored,
        vec![("cam-1".to_string(), false), ("drill-1".to_string(), true)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrolment_with_the_devices_own_credential_can_be_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    repeat_own_credential(store(&dir).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrolment_with_the_devices_own_credential_can_be_sent_again_postgres() {
    let name = "an_enrolment_with_the_devices_own_credential_can_be_sent_again_postgres";
    let Some(url) = crate::storage::tests::postgres_db(name).await else {
        return;
    };
    repeat_own_credential(Arc::new(SqlState::open_url(&url, 8).await.unwrap())).await;
}

/// A device that proposes its own credential may send its enrolment again after losing the
/// answer (a replica killed after its commit): the repeat is answered as the first time and
/// changes nothing, however the token stands now; anything else stays refused.
async fn repeat_own_credential(state: Arc<SqlState>) {
    let own = |token: &str, credential: Option<&str>, product: &str| EnrolRequest {
        token: token.into(),
        product: product.into(),
        credential: credential.map(String::from),
    };
    let mine = "a1".repeat(32);
    let once = token(&state, Some("cam-1"), None).await;
    let (first, stored) = enrol_device(
        state.as_ref(),
        "cam-1".into(),
        own(&once, Some(&mine), "acme-cam"),
        now(),
    )
    .await
    .unwrap();
    assert_eq!(
        first.credential, mine,
        "the device's own credential is kept"
    );
    assert_eq!(stored.credential_sha256, sha256_hex(&mine));
    let before = state.credentials().await.unwrap();

    // the one-use token is used up: the repeat is still answered, the same
    let (again, _) = enrol_device(
        state.as_ref(),
        "cam-1".into(),
        own(&once, Some(&mine), "acme-cam"),
        now(),
    )
    .await
    .unwrap();
    assert_eq!(
        (again.credential.as_str(), again.drill),
        (mine.as_str(), false)
    );
    // racing repeats (the first answer lost twice over): every one answered, one credential
    let racers: Vec<_> = (0..6)
        .map(|_| {
            let (state, req) = (state.clone(), own(&once, Some(&mine), "acme-cam"));
            tokio::spawn(
                async move { enrol_device(state.as_ref(), "cam-1".into(), req, now()).await },
            )
        })
        .collect();
    for r in racers {
        assert_eq!(r.await.unwrap().unwrap().0.credential, mine);
    }
    assert_eq!(
        state.credentials().await.unwrap(),
        before,
        "nothing changed"
    );

    // another credential, none, or another product: refused as before
    let factory = token(&state, None, Some(TokenUses::UNLIMITED)).await;
    for req in [
        own(&factory, Some(&"b2".repeat(32)), "acme-cam"),
        own(&factory, None, "acme-cam"),
        own(&factory, Some(&mine), "acme-old"),
    ] {
        let r = enrol_device(state.as_ref(), "cam-1".into(), req, now()).await;
        assert!(matches!(r, Err(EnrolmentError::Refused(_))), "{r:?}");
    }
    // a revoked device does not come back with its own credential either
    assert!(state.revoke_device("cam-1").await.unwrap());
    let r = enrol_device(
        state.as_ref(),
        "cam-1".into(),
        own(&once, Some(&mine), "acme-cam"),
        now(),
    )
    .await;
    assert!(matches!(r, Err(EnrolmentError::Refused(_))), "{r:?}");

    // a proposal that is not a credential is answered 400 naming the form
    for bad in [
        "short",
        &"x".repeat(129),
        &format!("{}!", "a".repeat(40)),
        "",
    ] {
        let r = enrol_device(
            state.as_ref(),
            "cam-7".into(),
            own(&factory, Some(bad), "acme-cam"),
            now(),
        )
        .await;
        let Err(e @ EnrolmentError::BadCredential(_)) = r else {
            panic!("{bad:?}: {r:?}");
        };
        let answer = ApiError::from(e);
        assert_eq!(answer.status.as_u16(), 400);
        assert!(
            answer.message.contains("32 to 128 characters"),
            "{}",
            answer.message
        );
    }
    assert!(
        state.credential("cam-7").await.unwrap().is_none(),
        "nothing stored for a refused proposal"
    );
}
