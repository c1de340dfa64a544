//! The Telegram WebApp in the browser: when Telegram opened the page (its launch parameters are in
//! the URL fragment, or its SDK already set `Telegram.WebApp.initData`), the theme is applied and
//! Telegram's SDK is loaded; otherwise nothing here runs, and the page never touches Telegram's CDN.
//!
//! The `initData` itself goes to the daemon as `X-Telegram-Init-Data` on writes (see
//! `api/request.rs`), where the door verifies it.

mod launch;

use js_sys::Reflect;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast as _, JsValue};

pub(crate) use self::launch::Launch;

/// Telegram's WebApp SDK; loaded only inside Telegram.
const SDK: &str = "https://telegram.org/js/telegram-web-app.js";

/// The launch parameters, when the page runs inside Telegram.
pub(crate) fn detect() -> Option<Launch> {
    let window = web_sys::window()?;
    if let Some(launch) = launch::from_fragment(&window.location().hash().unwrap_or_default()) {
        return Some(launch);
    }
    let web_app = sdk(&window)?;
    let init_data = Reflect::get(&web_app, &"initData".into()).ok()?.as_string().filter(|d| !d.is_empty())?;
    Some(Launch { init_data, theme: theme_of(&web_app) })
}

/// Applies the launch's theme and loads the SDK, which then applies its own theme and is told
/// the page is ready.
pub(crate) fn start(launch: &Launch) {
    apply(&launch.theme);
    let Some(window) = web_sys::window() else { return };
    if let Some(web_app) = sdk(&window) {
        ready(&web_app);
        return;
    }
    let Some(document) = window.document() else { return };
    let Ok(script) = document.create_element("script") else { return };
    let _ = script.set_attribute("src", SDK);
    let on_load = Closure::<dyn FnMut()>::new(move || {
        if let Some(web_app) = web_sys::window().as_ref().and_then(sdk) {
            apply(&theme_of(&web_app));
            ready(&web_app);
        }
    });
    let _ = script.add_event_listener_with_callback("load", on_load.as_ref().unchecked_ref());
    // The SDK loads once per page: its handler lives as long as the page.
    on_load.forget();
    if let Some(body) = document.body() {
        let _ = body.append_child(&script);
    }
}

/// `window.Telegram.WebApp`, once the SDK defined it.
fn sdk(window: &web_sys::Window) -> Option<JsValue> {
    let telegram = Reflect::get(window, &"Telegram".into()).ok().filter(JsValue::is_object)?;
    Reflect::get(&telegram, &"WebApp".into()).ok().filter(JsValue::is_object)
}

fn theme_of(web_app: &JsValue) -> Vec<(&'static str, String)> {
    Reflect::get(web_app, &"themeParams".into())
        .ok()
        .and_then(|params| js_sys::JSON::stringify(&params).ok())
        .and_then(|json| json.as_string())
        .map(|json| launch::theme(&json))
        .unwrap_or_default()
}

fn ready(web_app: &JsValue) {
    if let Ok(ready) = Reflect::get(web_app, &"ready".into())
        && let Some(ready) = ready.dyn_ref::<js_sys::Function>()
    {
        let _ = ready.call0(web_app);
    }
}

/// Sets the dashboard's colour variables on the root element.
fn apply(theme: &[(&'static str, String)]) {
    let Some(root) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.document_element()) else { return };
    let Ok(root) = root.dyn_into::<web_sys::HtmlElement>() else { return };
    for (var, colour) in theme {
        let _ = root.style().set_property(var, colour);
    }
}
