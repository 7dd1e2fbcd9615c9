//! A real browser for the console's end-to-end tests: Debian's Chromium, headless, driven through
//! Debian's chromedriver (WebDriver over plain HTTP on loopback) with fantoccini. Every wait is
//! bounded and a failure names the element it waited for and the page the browser was on.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// How long any element may take to show up.
pub const WAIT: Duration = Duration::from_secs(15);

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const INSTALL: &str = "apt-get install -y --no-install-recommends chromium chromium-driver";

/// chromedriver on a free loopback port and one headless Chromium session on it. Dropping it
/// ends chromedriver and the browsers it started (their own process group).
pub struct Browser {
    pub client: Client,
    /// `http://127.0.0.1:PORT` of the console: [`Browser::goto`] takes paths under it.
    pub base: String,
    driver: Child,
    dir: tempfile::TempDir,
}

/// A free loopback port (taken and released: chromedriver binds it right after).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

impl Browser {
    /// Starts chromedriver and a fresh 1366×900 headless Chromium with an empty profile.
    pub async fn start(base: &str) -> Browser {
        for binary in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                std::path::Path::new(binary).exists(),
                "{binary} is missing: the console's browser tests need Debian's Chromium and \
                 chromedriver:\n  {INSTALL}\n(deploy/dev/mailstack.sh start installs them)"
            );
        }
        let dir = tempfile::tempdir().expect("temp dir for the browser");
        let port = free_port();
        let driver = {
            use std::os::unix::process::CommandExt;
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", dir.path().join("chromedriver.log").display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                // Its own process group: Drop ends chromedriver and every Chromium it started.
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("start {CHROMEDRIVER}: {e}\n  {INSTALL}"))
        };
        let profile = dir.path().join("perfil");
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1366,900", "--lang=es-CO", "--no-first-run",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        });
        let Value::Object(capabilities) = capabilities else { unreachable!("an object") };
        let url = format!("http://127.0.0.1:{port}");
        let mut browser = None;
        let deadline = Instant::now() + WAIT;
        let mut last_error = String::new();
        // chromedriver needs a moment to listen; Chromium a moment more to start.
        while browser.is_none() && Instant::now() < deadline {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => browser = Some(client),
                Err(e) => {
                    last_error = e.to_string();
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        let this = Browser {
            client: match browser {
                Some(client) => client,
                None => {
                    let log = std::fs::read_to_string(dir.path().join("chromedriver.log"))
                        .unwrap_or_default();
                    let tail: Vec<&str> = log.lines().rev().take(30).collect();
                    panic!(
                        "no Chromium session from chromedriver on {url} within {WAIT:?}: \
                         {last_error}\nchromedriver.log (last lines, newest first):\n{}",
                        tail.join("\n")
                    )
                }
            },
            base: base.trim_end_matches('/').to_string(),
            driver,
            dir,
        };
        this.client.set_window_size(1366, 900).await.expect("window size");
        this
    }

    /// Ends the WebDriver session (Chromium closes); chromedriver ends on drop.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }

    /// Opens `target`: a path under the console's base (`/consola/bandeja`) or a full URL.
    pub async fn goto(&self, target: &str) {
        let url =
            if target.starts_with('/') { format!("{}{target}", self.base) } else { target.into() };
        self.client.goto(&url).await.unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The address the browser is on now.
    pub async fn url(&self) -> String {
        self.client.current_url().await.map(|u| u.to_string()).unwrap_or_default()
    }

    /// The path (with query) the browser is on now.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current URL");
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// Where the browser is, for failure messages: the URL, the page's `<h1>` and the start of
    /// what it shows.
    pub async fn whereabouts(&self) -> String {
        let url = self.url().await;
        let text = self
            .client
            .execute("return document.body ? document.body.innerText : ''", vec![])
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let shown: String = text.chars().take(1500).collect();
        format!("the browser is on {url}; the page shows:\n{shown}")
    }

    /// The first element `css` selects, waiting up to [`WAIT`]; the panic says what was
    /// awaited, where the browser is, and leaves a screenshot `fallo-…`.
    pub async fn wait_css(&self, css: &str) -> Element {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(found) = self.client.find(Locator::Css(css)).await {
                return found;
            }
            if Instant::now() > deadline {
                let shot = self.screenshot(&format!("fallo-{}", file_safe(css))).await;
                panic!(
                    "no element `{css}` within {WAIT:?}; {}\n(screenshot: {})",
                    self.whereabouts().await,
                    shot.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The element with `id`, waiting up to [`WAIT`].
    pub async fn wait(&self, id: &str) -> Element {
        self.wait_css(&format!("#{id}")).await
    }

    /// Waits until the browser is on `path` (the query string aside), up to [`WAIT`].
    pub async fn wait_path(&self, path: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let now = self.client.current_url().await.map(|u| u.path().to_string()).ok();
            if now.as_deref() == Some(path) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "the browser never reached {path} within {WAIT:?}; {}",
                    self.whereabouts().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the page shows `fragment`, up to [`WAIT`]; what it shows then.
    pub async fn wait_text(&self, fragment: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let shown = self
                .client
                .execute("return document.body ? document.body.innerText : ''", vec![])
                .await
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            if shown.contains(fragment) {
                return shown;
            }
            if Instant::now() > deadline {
                panic!(
                    "the page never showed {fragment:?} within {WAIT:?}; {}",
                    self.whereabouts().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The `href`s of the links `css` selects, in page order, without repeats.
    pub async fn hrefs(&self, css: &str) -> Vec<String> {
        let mut found: Vec<String> = Vec::new();
        for link in self.client.find_all(Locator::Css(css)).await.unwrap_or_default() {
            if let Ok(Some(href)) = link.attr("href").await
                && !found.contains(&href)
            {
                found.push(href);
            }
        }
        found
    }

    /// Whether an element `css` selects is on the page now (no waiting).
    pub async fn has(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    /// Types `text` into the field with `id` (emptied first).
    pub async fn fill(&self, id: &str, text: &str) {
        let field = self.wait(id).await;
        field.clear().await.unwrap_or_else(|e| panic!("clear #{id}: {e}"));
        field.send_keys(text).await.unwrap_or_else(|e| panic!("type into #{id}: {e}"));
    }

    /// Chooses the option of value `value` in the `<select>` with `id`.
    pub async fn select(&self, id: &str, value: &str) {
        let select = self.wait(id).await;
        if let Err(e) = select.select_by_value(value).await {
            panic!("no option {value:?} in #{id}: {e}; {}", self.whereabouts().await);
        }
    }

    /// Clicks the element with `id`.
    pub async fn click(&self, id: &str) {
        self.click_css(&format!("#{id}")).await;
    }

    /// Clicks the first element `css` selects.
    pub async fn click_css(&self, css: &str) {
        let element = self.wait_css(css).await;
        if let Err(e) = element.click().await {
            panic!("click `{css}`: {e}; {}", self.whereabouts().await);
        }
    }

    /// The text the element with `id` shows.
    pub async fn text(&self, id: &str) -> String {
        self.text_css(&format!("#{id}")).await
    }

    /// The text the first element `css` selects shows.
    pub async fn text_css(&self, css: &str) -> String {
        self.wait_css(css).await.text().await.unwrap_or_default()
    }

    /// The page's `<h1>`.
    pub async fn h1(&self) -> String {
        self.text_css("h1").await
    }

    /// The `id` of the element that has the keyboard focus ("" for none).
    pub async fn focused_id(&self) -> String {
        let active = self.client.active_element().await.expect("active element");
        active.attr("id").await.ok().flatten().unwrap_or_default()
    }

    /// Sends keys to the focused element, as a person at the keyboard.
    pub async fn keys(&self, text: &str) {
        let active = self.client.active_element().await.expect("active element");
        active.send_keys(text).await.unwrap_or_else(|e| panic!("keys {text:?}: {e}"));
    }

    pub async fn press(&self, key: Key) {
        self.keys(&char::from(key).to_string()).await;
    }

    /// Takes the focus away from whatever has it (an `autofocus` field, say), so that the next
    /// Tab starts from the top of the page.
    pub async fn blur(&self) {
        let script = "if (document.activeElement) { document.activeElement.blur(); }";
        self.client.execute(script, vec![]).await.expect("blur");
    }

    /// Presses Tab until the element with `id` has the focus (at most 40 times): it is reachable
    /// by keyboard, in the page's tab order.
    pub async fn tab_to(&self, id: &str) {
        for _ in 0..40 {
            if self.focused_id().await == id {
                return;
            }
            self.press(Key::Tab).await;
        }
        panic!("40 presses of Tab never reached #{id}; {}", self.whereabouts().await);
    }

    /// Saves a PNG of the window at `{target}/consola-capturas/{name}.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        let path = dir.join(format!("{name}.png"));
        match self.client.screenshot().await {
            Ok(png) => std::fs::write(&path, png).expect("write screenshot"),
            Err(e) => eprintln!("no screenshot {name}: {e}"),
        }
        path
    }

    /// Puts a cookie for the console's host (the browser first opens a page of it: WebDriver
    /// sets cookies for the current document's domain).
    pub async fn set_cookie(&self, name: &str, value: &str) {
        self.goto("/consola/static/consola.css").await;
        // As the console sets its own: HttpOnly, SameSite=Strict, for the host opened (WebDriver
        // wants the domain, and Chromium drops SameSite=None without Secure).
        let host =
            self.client.current_url().await.ok().and_then(|u| u.host_str().map(String::from));
        let host = host.unwrap_or_else(|| "127.0.0.1".to_string());
        let cookie = fantoccini::cookies::Cookie::parse(format!(
            "{name}={value}; Path=/; Domain={host}; HttpOnly; SameSite=Strict"
        ))
        .expect("a cookie");
        self.client.add_cookie(cookie).await.expect("add cookie");
    }

    /// Runs `fetch(path, init)` in the page (same origin, with its cookies, redirects followed):
    /// the answer's status and body. `init` is the JSON of fetch's options object.
    pub async fn fetch(&self, path: &str, init: Value) -> (u16, String) {
        let script = "const [path, init, done] = arguments; \
                      fetch(path, Object.assign({credentials: 'same-origin'}, init)) \
                        .then(r => r.text().then(t => done([r.status, t]))) \
                        .catch(e => done([0, String(e)]));";
        let answer = self
            .client
            .execute_async(script, vec![json!(path), init])
            .await
            .unwrap_or_else(|e| panic!("fetch {path} in the page: {e}"));
        let status = answer[0].as_u64().unwrap_or_default() as u16;
        (status, answer[1].as_str().unwrap_or_default().to_string())
    }

    /// chromedriver's log, for failure messages.
    pub fn driver_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The group chromedriver leads: chromedriver and the Chromium processes it started.
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.wait();
    }
}

/// `{CARGO_TARGET_DIR or target}/consola-capturas`.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| option_env!("CARGO_TARGET_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("consola-capturas")
}

fn file_safe(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
}
