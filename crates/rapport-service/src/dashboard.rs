//! The web dashboard's assets, embedded in the binary (no build step, no files to deploy), and the
//! self-contained HTML report of `rapport score`, which shares the dashboard's stylesheet and charts.
//!
//! The assets are plain HTML, CSS and JavaScript; the one library is uPlot (MIT, vendored in
//! `assets/vendor/` with its licence). Not the place for data: the dashboard reads the `/v1` API with the
//! user's API key.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rapport_engine::score::Overview;

pub const INDEX_HTML: &str = include_str!("../assets/index.html");
pub const APP_JS: &str = include_str!("../assets/app.js");
pub const APP_CSS: &str = include_str!("../assets/app.css");
pub const CHARTS_JS: &str = include_str!("../assets/charts.js");
pub const UPLOT_JS: &str = include_str!("../assets/vendor/uPlot.iife.min.js");
pub const UPLOT_CSS: &str = include_str!("../assets/vendor/uPlot.min.css");

/// Same-origin only: the dashboard makes no request to any other host.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// `GET /`: the dashboard.
pub async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

/// `GET /assets/{name}`: the dashboard's scripts and styles.
pub async fn assets(Path(name): Path<String>) -> Response {
    match name.as_str() {
        "app.js" => asset("text/javascript; charset=utf-8", APP_JS),
        "charts.js" => asset("text/javascript; charset=utf-8", CHARTS_JS),
        "app.css" => asset("text/css; charset=utf-8", APP_CSS),
        "uPlot.iife.min.js" => asset("text/javascript; charset=utf-8", UPLOT_JS),
        "uPlot.min.css" => asset("text/css; charset=utf-8", UPLOT_CSS),
        _ => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

/// JSON for a `<script type="application/json">` block: `<` escaped so that no text in it can close the
/// block.
fn script_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|_| "null".into())
        .replace('<', "\\u003c")
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The report of a scoring run: one HTML file with its styles, scripts and data inline, which makes no
/// network request (its Content-Security-Policy forbids any).
pub fn report_html(overview: &Overview, title: &str, subtitle: &str) -> String {
    let data = script_json(overview);
    let title = escape_html(title);
    let subtitle = escape_html(subtitle);
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>{title}</title>
<style>{UPLOT_CSS}</style>
<style>{APP_CSS}</style>
</head>
<body>
<header class="top"><h1>{title}</h1></header>
<main>
<p class="status">{subtitle}</p>
<div id="overview"></div>
</main>
<script type="application/json" id="data">{data}</script>
<script>{UPLOT_JS}</script>
<script>{CHARTS_JS}</script>
<script>
RapportCharts.overview(document.getElementById("overview"), JSON.parse(document.getElementById("data").textContent), null, null);
</script>
</body>
</html>
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_is_self_contained_and_escapes_its_data() {
        let mut o = Overview::default();
        o.add(&rapport_engine::score::Metrics {
            id: "</script><script>alert(1)</script>".into(),
            turns: 2,
            customer_turns: 1,
            sentiment: vec![-0.4],
            distress: vec![0.8],
            sentiment_first: -0.4,
            sentiment_last: -0.4,
            sentiment_mean: -0.4,
            distress_peak: 0.8,
            trend: rapport_engine::trajectory::Trend::Stable,
            emotion: "anger".into(),
            intent: "track_order".into(),
            empathy: Some(70.0),
            reply_scores: vec![70],
            hollow_sympathy: 0,
            pii_leaks: 0,
            resolved: false,
            escalated: true,
            churn_risk: 0.5,
            signals: vec![],
            distress_drivers: vec!["intent:track_order".into()],
            worst_reply: None,
        });
        let html = report_html(&o, "Report <x>", "1 conversation");
        assert!(!html.contains("<script>alert(1)"));
        assert!(html.contains("\\u003c/script>"));
        assert!(html.contains("Report &lt;x&gt;"));
        // Nothing is loaded from elsewhere.
        assert!(!html.contains("src=\"http"));
        assert!(!html.contains("href=\"http"));
        assert!(html.contains("default-src 'none'"));
    }
}
