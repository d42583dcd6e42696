//! Who may read `/metrics`: the API server decides, as kube-rbac-proxy and
//! controller-runtime's `WithAuthenticationAndAuthorization` do. A request's
//! bearer token goes to a TokenReview (who is this?), its user to a
//! SubjectAccessReview (may they `get` the non-resource URL `/metrics`?).
//!
//! A tenant can send anything, so nothing they send grows without bound or
//! turns into API calls at their pace: a token longer than [`MAX_TOKEN`] is
//! refused unread; answers are cached by the token's SHA-256 (never the
//! token) for [`ALLOWED_TTL`] or [`REFUSED_TTL`], at most [`MAX_ENTRIES`] of
//! them; and cache misses are reviewed at most [`REVIEW_BURST`] at once and
//! [`REVIEWS_PER_SECOND`] on average: past that a request is answered 429
//! without asking the API server.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};
use sha2::{Digest, Sha256};

/// Longest bearer token reviewed (bytes). ServiceAccount tokens are about
/// 1 KiB; OIDC tokens with many groups a few KiB.
pub const MAX_TOKEN: usize = 16 * 1024;
/// Most answers kept.
pub const MAX_ENTRIES: usize = 1024;
/// How long an "allowed" answer is trusted: also how long a revoked binding
/// keeps working for a token already seen.
pub const ALLOWED_TTL: Duration = Duration::from_secs(60);
/// How long a 401 or 403 answer is kept: a new binding works after this.
pub const REFUSED_TTL: Duration = Duration::from_secs(10);
/// Reviews started at once before the rate applies.
pub const REVIEW_BURST: u32 = 20;
/// Reviews per second on average, for all clients together.
pub const REVIEWS_PER_SECOND: u32 = 10;
/// Longest wait for the API server's answer.
pub const REVIEW_TIMEOUT: Duration = Duration::from_secs(10);

/// The path and verb a scraper must be allowed.
const PATH: &str = "/metrics";
const VERB: &str = "get";

/// What the API server said about a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Authenticated and allowed to `get` `/metrics`: 200.
    Allowed,
    /// No token, a malformed or too long one, or one the API server does not
    /// authenticate: 401.
    Unauthenticated,
    /// Authenticated, but not allowed: 403.
    Forbidden,
    /// Too many reviews right now: 429 (nothing was asked).
    Busy,
    /// The API server did not answer: 503 (nothing is cached).
    Unavailable,
}

/// The user a TokenReview found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct User {
    /// Username.
    pub name: String,
    /// UID, if any.
    pub uid: Option<String>,
    /// Groups.
    pub groups: Vec<String>,
    /// Extra attributes (e.g. the ServiceAccount's pod).
    pub extra: std::collections::BTreeMap<String, Vec<String>>,
}

/// The two questions asked of the API server (a trait so that unit tests can
/// count them).
pub trait Reviews: Send + Sync {
    /// The user `token` authenticates as, `Ok(None)` if it does not.
    fn authenticate(
        &self,
        token: &str,
    ) -> impl Future<Output = Result<Option<User>, kube::Error>> + Send;
    /// Whether `user` may `get` `/metrics`.
    fn authorize(&self, user: &User) -> impl Future<Output = Result<bool, kube::Error>> + Send;
}

/// [`Reviews`] by TokenReview and SubjectAccessReview (the operator's
/// ClusterRole: `create` on both).
#[derive(Clone)]
pub struct KubeReviews(pub kube::Client);

impl Reviews for KubeReviews {
    async fn authenticate(&self, token: &str) -> Result<Option<User>, kube::Error> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_string()),
                audiences: None,
            },
            ..Default::default()
        };
        let answer = Api::<TokenReview>::all(self.0.clone())
            .create(&PostParams::default(), &review)
            .await?;
        let Some(status) = answer.status else {
            return Ok(None);
        };
        if status.authenticated != Some(true) {
            return Ok(None);
        }
        let Some(info) = status.user else {
            return Ok(None);
        };
        Ok(Some(User {
            name: info.username.unwrap_or_default(),
            uid: info.uid,
            groups: info.groups.unwrap_or_default(),
            extra: info.extra.unwrap_or_default(),
        }))
    }

    async fn authorize(&self, user: &User) -> Result<bool, kube::Error> {
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(user.name.clone()),
                uid: user.uid.clone(),
                groups: Some(user.groups.clone()),
                extra: Some(user.extra.clone()),
                non_resource_attributes: Some(NonResourceAttributes {
                    path: Some(PATH.into()),
                    verb: Some(VERB.into()),
                }),
                resource_attributes: None,
            },
            ..Default::default()
        };
        let answer = Api::<SubjectAccessReview>::all(self.0.clone())
            .create(&PostParams::default(), &review)
            .await?;
        Ok(answer.status.is_some_and(|s| s.allowed))
    }
}

/// The gate in front of `/metrics`.
pub struct Access<R> {
    reviews: R,
    state: Mutex<State>,
}

struct State {
    /// SHA-256 of a token → (verdict, until when it holds).
    answers: HashMap<[u8; 32], (Verdict, Instant)>,
    /// Token bucket of reviews.
    tokens: f64,
    refilled: Instant,
}

impl<R: Reviews> Access<R> {
    /// A gate asking `reviews`, with an empty cache and a full bucket.
    pub fn new(reviews: R) -> Self {
        Self {
            reviews,
            state: Mutex::new(State {
                answers: HashMap::new(),
                tokens: f64::from(REVIEW_BURST),
                refilled: Instant::now(),
            }),
        }
    }

    /// The verdict on the value of an `Authorization` header (`None` when
    /// there is none).
    pub async fn check(&self, authorization: Option<&[u8]>) -> Verdict {
        let Some(token) = authorization.and_then(bearer) else {
            return Verdict::Unauthenticated;
        };
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        match self.cached_or_admit(&key, Instant::now()) {
            Ok(verdict) => return verdict,
            Err(Admit::Busy) => return Verdict::Busy,
            Err(Admit::Review) => {}
        }
        let verdict = match tokio::time::timeout(REVIEW_TIMEOUT, self.review(token)).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                tracing::warn!(
                    error = %e,
                    "reviewing a /metrics token failed (the operator needs create on tokenreviews and subjectaccessreviews: the chart's <fullname>-metrics-auth ClusterRole)"
                );
                return Verdict::Unavailable;
            }
            Err(_) => {
                tracing::warn!("reviewing a /metrics token timed out");
                return Verdict::Unavailable;
            }
        };
        self.remember(key, verdict, Instant::now());
        verdict
    }

    /// How many answers are cached.
    pub fn cached(&self) -> usize {
        self.lock().answers.len()
    }

    async fn review(&self, token: &str) -> Result<Verdict, kube::Error> {
        let Some(user) = self.reviews.authenticate(token).await? else {
            return Ok(Verdict::Unauthenticated);
        };
        let allowed = self.reviews.authorize(&user).await?;
        if !allowed {
            tracing::debug!(user = %user.name.escape_debug(), "/metrics refused: not allowed to get {PATH}");
        }
        Ok(if allowed {
            Verdict::Allowed
        } else {
            Verdict::Forbidden
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A fresh cached verdict, or a token of the bucket to review with.
    fn cached_or_admit(&self, key: &[u8; 32], now: Instant) -> Result<Verdict, Admit> {
        let mut s = self.lock();
        if let Some((verdict, until)) = s.answers.get(key) {
            if *until > now {
                return Ok(*verdict);
            }
            s.answers.remove(key);
        }
        let elapsed = now.saturating_duration_since(s.refilled).as_secs_f64();
        s.tokens =
            (s.tokens + elapsed * f64::from(REVIEWS_PER_SECOND)).min(f64::from(REVIEW_BURST));
        s.refilled = now;
        if s.tokens < 1.0 {
            return Err(Admit::Busy);
        }
        s.tokens -= 1.0;
        Err(Admit::Review)
    }

    fn remember(&self, key: [u8; 32], verdict: Verdict, now: Instant) {
        let ttl = match verdict {
            Verdict::Allowed => ALLOWED_TTL,
            Verdict::Unauthenticated | Verdict::Forbidden => REFUSED_TTL,
            Verdict::Busy | Verdict::Unavailable => return,
        };
        let mut s = self.lock();
        if s.answers.len() >= MAX_ENTRIES && !s.answers.contains_key(&key) {
            s.answers.retain(|_, (_, until)| *until > now);
            if s.answers.len() >= MAX_ENTRIES {
                // Full of live answers: the one that would expire first goes.
                let soonest = s.answers.iter().min_by_key(|(_, (_, until))| *until);
                if let Some((k, _)) = soonest.map(|(k, v)| (*k, *v)) {
                    s.answers.remove(&k);
                }
            }
        }
        s.answers.insert(key, (verdict, now + ttl));
    }
}

enum Admit {
    Review,
    Busy,
}

/// The token of `Bearer <token>`: printable ASCII, at most [`MAX_TOKEN`]
/// bytes, else `None` (the request is then unauthenticated, unreviewed).
fn bearer(header: &[u8]) -> Option<&str> {
    if header.len() > MAX_TOKEN + "Bearer ".len() {
        return None;
    }
    let text = std::str::from_utf8(header).ok()?;
    let (scheme, token) = text.split_once(' ')?;
    let token = token.trim_matches(' ');
    let printable = token.bytes().all(|b| b.is_ascii_graphic());
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && printable).then_some(token)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Tokens `ok-*` authenticate and are allowed, `no-*` authenticate and
    /// are refused, anything else does not authenticate; counts the calls.
    #[derive(Default)]
    struct Fake {
        calls: AtomicUsize,
    }

    impl Reviews for Fake {
        async fn authenticate(&self, token: &str) -> Result<Option<User>, kube::Error> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(
                (token.starts_with("ok-") || token.starts_with("no-")).then(|| User {
                    name: token.to_string(),
                    ..Default::default()
                }),
            )
        }
        async fn authorize(&self, user: &User) -> Result<bool, kube::Error> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(user.name.starts_with("ok-"))
        }
    }

    fn calls(a: &Access<Fake>) -> usize {
        a.reviews.calls.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn verdicts_by_token_and_cached() {
        let a = Access::new(Fake::default());
        assert_eq!(a.check(None).await, Verdict::Unauthenticated);
        assert_eq!(a.check(Some(b"Basic abc")).await, Verdict::Unauthenticated);
        assert_eq!(a.check(Some(b"Bearer ")).await, Verdict::Unauthenticated);
        assert_eq!(
            a.check(Some(b"Bearer a\x01b")).await,
            Verdict::Unauthenticated
        );
        assert_eq!(calls(&a), 0, "malformed headers are never reviewed");
        assert_eq!(a.check(Some(b"Bearer ok-1")).await, Verdict::Allowed);
        assert_eq!(a.check(Some(b"bearer ok-1")).await, Verdict::Allowed);
        assert_eq!(calls(&a), 2, "the second is cached");
        assert_eq!(a.check(Some(b"Bearer no-1")).await, Verdict::Forbidden);
        assert_eq!(a.check(Some(b"Bearer no-1")).await, Verdict::Forbidden);
        assert_eq!(a.check(Some(b"Bearer bad")).await, Verdict::Unauthenticated);
        assert_eq!(a.check(Some(b"Bearer bad")).await, Verdict::Unauthenticated);
        assert_eq!(calls(&a), 5);
        assert_eq!(a.cached(), 3);
    }

    #[tokio::test]
    async fn a_long_token_is_refused_unread() {
        let a = Access::new(Fake::default());
        let mut header = b"Bearer ok-".to_vec();
        header.resize(MAX_TOKEN + 8, b'x');
        assert_eq!(a.check(Some(&header)).await, Verdict::Unauthenticated);
        assert_eq!(calls(&a), 0);
        assert_eq!(a.cached(), 0);
    }

    #[test]
    fn reviews_are_rate_limited_and_the_cache_is_bounded() {
        let a = Access::new(Fake::default());
        let t0 = Instant::now();
        let admitted = |at: Instant, from: usize| {
            (from..from + 100)
                .filter(|i| {
                    let key: [u8; 32] = Sha256::digest(i.to_le_bytes()).into();
                    matches!(a.cached_or_admit(&key, at), Err(Admit::Review))
                })
                .count()
        };
        assert_eq!(
            admitted(t0, 0),
            REVIEW_BURST as usize,
            "the burst, then 429"
        );
        let second = t0 + Duration::from_secs(1);
        assert_eq!(admitted(second, 1000), REVIEWS_PER_SECOND as usize);
        // The cache never holds more than its bound, whatever is inserted.
        for i in 0..(MAX_ENTRIES + 100) {
            let key: [u8; 32] = Sha256::digest(i.to_le_bytes()).into();
            a.remember(key, Verdict::Forbidden, t0);
        }
        assert_eq!(a.cached(), MAX_ENTRIES);
    }

    #[test]
    fn expired_answers_are_asked_again_and_evicted_first() {
        let a = Access::new(Fake::default());
        let t0 = Instant::now();
        let key = [1u8; 32];
        a.remember(key, Verdict::Forbidden, t0);
        assert!(matches!(
            a.cached_or_admit(&key, t0),
            Ok(Verdict::Forbidden)
        ));
        let later = t0 + REFUSED_TTL + Duration::from_secs(1);
        assert!(matches!(a.cached_or_admit(&key, later), Err(Admit::Review)));
        assert_eq!(a.cached(), 0);

        // Full: the stale ones go, then the soonest to expire.
        for i in 0..MAX_ENTRIES {
            let k: [u8; 32] = Sha256::digest(i.to_le_bytes()).into();
            let verdict = if i == 0 {
                Verdict::Forbidden
            } else {
                Verdict::Allowed
            };
            a.remember(k, verdict, t0);
        }
        a.remember([2u8; 32], Verdict::Allowed, t0);
        assert_eq!(a.cached(), MAX_ENTRIES);
        let first: [u8; 32] = Sha256::digest(0usize.to_le_bytes()).into();
        assert!(!a.lock().answers.contains_key(&first), "soonest evicted");
    }
}
