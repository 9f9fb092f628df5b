//! What every page is checked for (labelled fields, WCAG AA contrast,
//! nothing from another host, no script error), and the run page's two
//! moves: waiting for its status badge and confirming an action.

use junction_e2e::webdriver::Browser;
use serde_json::json;

/// Text whose contrast with its background is under WCAG AA (4.5:1, 3:1
/// for large text), disabled controls excepted: `tag "text" ratio` lines.
const LOW_CONTRAST: &str = r#"
const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
const lum = ([r, g, b]) => {
  const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
};
const background = (el) => {
  for (let e = el; e; e = e.parentElement) {
    const c = rgb(getComputedStyle(e).backgroundColor);
    if (c.length >= 3 && (c.length < 4 || c[3] > 0.5)) return c.slice(0, 3);
  }
  return [255, 255, 255];
};
const low = [];
for (const el of document.querySelectorAll('body *')) {
  if (el.closest('[disabled], [aria-disabled="true"], .visually-hidden, svg')) continue;
  const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  if (!own || !el.getClientRects().length) continue;
  const style = getComputedStyle(el);
  if (style.visibility === 'hidden' || Number(style.opacity) < 0.1) continue;
  const fg = lum(rgb(style.color).slice(0, 3)), bg = lum(background(el));
  const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
  const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
  const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
  if (ratio < needed) low.push(`${el.tagName} "${el.textContent.trim().slice(0, 40)}" ${ratio.toFixed(2)}`);
}
return low;
"#;

/// The page's checks every test page gets: each input has a label, text
/// has enough contrast, every resource came from the coordinator, no
/// script error in the console.
pub(crate) async fn check_page(browser: &Browser, origin: &str, page: &str) -> anyhow::Result<()> {
    let unlabelled = browser
        .script(
            "return [...document.querySelectorAll('input, textarea, select')]
                .filter(e => e.type !== 'hidden' && !(e.labels && e.labels.length)
                             && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))
                .map(e => e.outerHTML.slice(0, 120));",
            json!([]),
        )
        .await?;
    assert_eq!(unlabelled, json!([]), "{page}: inputs without a label");
    let low = browser.script(LOW_CONTRAST, json!([])).await?;
    assert_eq!(low, json!([]), "{page}: text under WCAG AA contrast");
    let foreign = browser
        .script(
            "return performance.getEntriesByType('resource').map(e => e.name)
                .filter(n => !n.startsWith(arguments[0]));",
            json!([origin]),
        )
        .await?;
    assert_eq!(foreign, json!([]), "{page}: loaded from another host");
    let errors: Vec<String> = browser
        .console()
        .await?
        .into_iter()
        .filter(|line| {
            [
                "Uncaught",
                "TypeError",
                "ReferenceError",
                "SyntaxError",
                "Content Security Policy",
            ]
            .iter()
            .any(|marker| line.contains(marker))
        })
        .collect();
    assert!(errors.is_empty(), "{page}: console errors {errors:#?}");
    Ok(())
}

/// Waits until the run page's status badge reads `status`.
pub(crate) async fn wait_for_badge(browser: &Browser, status: &str) -> anyhow::Result<()> {
    browser
        .wait_until(&format!("run status {status}"), || async {
            let badge = browser.wait_for("[data-testid='run-status']").await?;
            Ok((browser.text(&badge).await?.trim() == status).then_some(()))
        })
        .await
}

/// Clicks the run page's action `name`, fills the confirmation's reason,
/// and confirms.
pub(crate) async fn act(browser: &Browser, name: &str, reason: Option<&str>) -> anyhow::Result<()> {
    browser
        .click_on(&format!("[data-testid='action-{name}']:not([disabled])"))
        .await?;
    if let Some(reason) = reason {
        browser
            .fill("[data-testid='confirm-reason']", reason)
            .await?;
    }
    browser.click_on("[data-testid='confirm-ok']").await
}
