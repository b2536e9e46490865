//! `kazashi-kiosk kiosk`: the terminal's only interface. A tap prompt, progress, the result
//! (the key facts, or a failure in plain language), then back to the prompt once the phone
//! is taken away. What is on screen is a pure function of [`State`] ([`draw`]); the loop runs
//! the same `read` and `collect` code as the commands. `--plain` (or a stdout that is not a
//! terminal) prints each new state as a line instead.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use kazashi_se::{PcscReader, TransportError};
use ratatui::Frame;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Gauge, Paragraph, Wrap};

use crate::collect::{self, CollectOptions};
use crate::error::KioskError;
use crate::read::{self, ReadOptions};
use crate::{Args, files};

/// The screen's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    /// 日本語.
    Ja,
    /// English.
    En,
}

impl Lang {
    fn other(self) -> Self {
        match self {
            Lang::Ja => Lang::En,
            Lang::En => Lang::Ja,
        }
    }
}

/// What the kiosk is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Identity check (`read`).
    Read,
    /// Collecting a certificate (`collect`).
    Collect,
}

/// A step of the transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Reading the engagement (NFC handover or QR).
    Engagement,
    /// The encrypted session: request and response.
    Session,
    /// Checking the document.
    Verifying,
    /// Rendering the certificate.
    Preparing,
    /// Sending it to the printer.
    Printing,
}

impl Step {
    /// The step a progress line of `read`/`collect` reports.
    pub(crate) fn from_progress(line: &str) -> Option<Self> {
        let starts = |p: &str| line.starts_with(p);
        if starts("Reading the phone's NFC handover") || starts("Engagement from") {
            Some(Step::Engagement)
        } else if starts("Opening the session") || starts("Asking for") {
            Some(Step::Session)
        } else if starts("Response received") || starts("Verified") {
            Some(Step::Verifying)
        } else if starts("Rendering") || starts("Saved") {
            Some(Step::Preparing)
        } else if starts("Printing") {
            Some(Step::Printing)
        } else {
            None
        }
    }

    /// How far along (0–100) for the gauge.
    fn percent(self) -> u16 {
        match self {
            Step::Engagement => 15,
            Step::Session => 40,
            Step::Verifying => 65,
            Step::Preparing => 80,
            Step::Printing => 92,
        }
    }
}

/// Why a tap failed, as a person at the kiosk needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The reader is missing or broken (exit 4 for the reader).
    NoReader,
    /// The phone left before the end (exit 5).
    Removed,
    /// Engagement or session failed (exits 6, 7).
    ReadFailed,
    /// The document did not verify (exit 8).
    NotVerified,
    /// No such document on the phone, or it was not shared (exit 9).
    NoDocument,
    /// Printing failed; the PDF was kept (exit 11).
    PrintFailed,
    /// Anything else: staff must look (exits 2, 3, 10).
    Other,
}

impl Failure {
    /// The failure a kiosk error means.
    pub(crate) fn of(error: &KioskError) -> Self {
        if matches!(error, KioskError::NotReady(_)) {
            // A phone on the reader that never answered: not the reader's fault.
            return Failure::ReadFailed;
        }
        match error.exit_code() {
            4 => Failure::NoReader,
            5 => Failure::Removed,
            6 | 7 => Failure::ReadFailed,
            8 => Failure::NotVerified,
            9 => Failure::NoDocument,
            11 => Failure::PrintFailed,
            _ => Failure::Other,
        }
    }
}

/// Everything the screen shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum State {
    /// Waiting for a phone.
    Ready,
    /// A transfer in progress.
    Working(Step),
    /// Done: a headline fact list.
    Success {
        /// Printed (collect with a printer).
        printed: bool,
        /// `(label, value)` facts: document, name, issuer…
        facts: Vec<(String, String)>,
    },
    /// Failed, with the error's exit code and stable code for staff.
    Failed {
        /// What it means.
        failure: Failure,
        /// Exit code and code, e.g. `(8, "not_trusted")`.
        code: (u8, String),
    },
}

impl State {
    /// The state for a failed tap.
    pub(crate) fn failed(error: &KioskError) -> Self {
        State::Failed {
            failure: Failure::of(error),
            code: (error.exit_code(), error.code().to_string()),
        }
    }

    /// `ready`, `progress`, `success` or `failure` (the line mode's prefix).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            State::Ready => "ready",
            State::Working(_) => "progress",
            State::Success { .. } => "success",
            State::Failed { .. } => "failure",
        }
    }
}

/// The words for a state: a headline and a hint.
pub(crate) fn words(state: &State, mode: Mode, lang: Lang) -> (&'static str, &'static str) {
    use Lang::{En, Ja};
    match (state, lang) {
        (State::Ready, Ja) => (
            "スマートフォンをかざしてください",
            "読み取り機の上に置いて、そのままお待ちください",
        ),
        (State::Ready, En) => (
            "Hold your phone to the reader",
            "Place it on the reader and keep it there",
        ),
        (State::Working(step), Ja) => (
            match step {
                Step::Engagement => "読み取っています…",
                Step::Session => "安全に接続しています…",
                Step::Verifying => "確認しています…",
                Step::Preparing => "証明書を作成しています…",
                Step::Printing => "印刷しています…",
            },
            "スマートフォンを動かさないでください",
        ),
        (State::Working(step), En) => (
            match step {
                Step::Engagement => "Reading your phone…",
                Step::Session => "Opening a secure session…",
                Step::Verifying => "Verifying…",
                Step::Preparing => "Preparing your certificate…",
                Step::Printing => "Printing…",
            },
            "Please keep your phone still",
        ),
        (State::Success { printed, .. }, Ja) => (
            match (mode, printed) {
                (Mode::Read, _) => "確認できました",
                (Mode::Collect, true) => "証明書を印刷しています。プリンターからお受け取りください",
                (Mode::Collect, false) => "証明書を受け付けました",
            },
            "スマートフォンを離してください",
        ),
        (State::Success { printed, .. }, En) => (
            match (mode, printed) {
                (Mode::Read, _) => "Verified",
                (Mode::Collect, true) => {
                    "Your certificate is printing. Please take it from the printer"
                }
                (Mode::Collect, false) => "Your certificate is ready",
            },
            "You can take your phone away",
        ),
        (State::Failed { failure, .. }, Ja) => (
            match failure {
                Failure::NoReader => "読み取り機が使えません",
                Failure::Removed => "読み取りの途中でスマートフォンが離れました",
                Failure::ReadFailed => "スマートフォンを読み取れませんでした",
                Failure::NotVerified => "書類を確認できませんでした",
                Failure::NoDocument => "対象の書類が共有されませんでした",
                Failure::PrintFailed => "印刷できませんでした（証明書は保存されています）",
                Failure::Other => "エラーが発生しました",
            },
            match failure {
                Failure::Removed | Failure::ReadFailed => "もう一度かざしてください",
                Failure::NoDocument => "アプリで書類を選んで、もう一度かざしてください",
                Failure::NotVerified => "窓口にお越しください",
                Failure::NoReader | Failure::PrintFailed | Failure::Other => "係員をお呼びください",
            },
        ),
        (State::Failed { failure, .. }, En) => (
            match failure {
                Failure::NoReader => "The reader is not available",
                Failure::Removed => "Your phone moved away too soon",
                Failure::ReadFailed => "Your phone could not be read",
                Failure::NotVerified => "Your document could not be verified",
                Failure::NoDocument => "No matching document was shared from your phone",
                Failure::PrintFailed => "Your certificate could not be printed (it has been saved)",
                Failure::Other => "Something went wrong",
            },
            match failure {
                Failure::Removed | Failure::ReadFailed => "Please hold it to the reader again",
                Failure::NoDocument => "Choose the document in your app and try again",
                Failure::NotVerified => "Please ask at the counter",
                Failure::NoReader | Failure::PrintFailed | Failure::Other => {
                    "Please call a member of staff"
                }
            },
        ),
    }
}

fn header(mode: Mode, lang: Lang) -> &'static str {
    match (mode, lang) {
        (Mode::Read, Lang::Ja) => "本人確認",
        (Mode::Read, Lang::En) => "Identity check",
        (Mode::Collect, Lang::Ja) => "証明書の受け取り",
        (Mode::Collect, Lang::En) => "Collect a certificate",
    }
}

fn colour(state: &State) -> Color {
    match state {
        State::Ready => Color::Blue,
        State::Working(_) => Color::Yellow,
        State::Success { .. } => Color::Green,
        State::Failed { .. } => Color::Red,
    }
}

/// Draws the screen for `state`: the headline in `lang` (large: bold, centred, on the
/// state's colour), the same in the other language below it, the facts or a progress gauge,
/// and the hint. Nothing else is shown.
pub(crate) fn draw(frame: &mut Frame<'_>, state: &State, mode: Mode, lang: Lang) {
    let area = frame.area();
    let accent = colour(state);
    let outer = Block::bordered()
        .border_type(BorderType::Thick)
        .border_style(Style::new().fg(accent))
        .title(
            Line::from(format!(
                " {} / {} ",
                header(mode, lang),
                header(mode, lang.other())
            ))
            .centered(),
        )
        .title_bottom(Line::from(" q / Esc ").right_aligned());
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    let [_, banner, _, middle, _, hint, code] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(5),
        Constraint::Length(1),
        Constraint::Length(8),
        Constraint::Fill(1),
        Constraint::Length(2),
        Constraint::Length(1),
    ])
    .areas(inner);
    let (title, tip) = words(state, mode, lang);
    let (other_title, other_tip) = words(state, mode, lang.other());
    let banner_text = vec![
        Line::from(""),
        Line::from(Span::styled(
            title,
            Style::new()
                .fg(Color::White)
                .bg(accent)
                .add_modifier(Modifier::BOLD),
        )),
        Line::from(""),
        Line::from(Span::styled(
            other_title,
            Style::new().fg(Color::White).bg(accent),
        )),
    ];
    frame.render_widget(
        Paragraph::new(banner_text)
            .alignment(Alignment::Center)
            .wrap(Wrap { trim: true })
            .style(Style::new().bg(accent)),
        banner,
    );
    match state {
        State::Working(step) => {
            let [_, bar, _] = Layout::horizontal([
                Constraint::Fill(1),
                Constraint::Percentage(60),
                Constraint::Fill(1),
            ])
            .areas(Rect {
                height: 1,
                ..middle
            });
            frame.render_widget(
                Gauge::default()
                    .gauge_style(Style::new().fg(accent))
                    .percent(step.percent()),
                bar,
            );
        }
        State::Success { facts, .. } => {
            let lines: Vec<Line<'_>> = facts
                .iter()
                .map(|(label, value)| {
                    Line::from(vec![
                        Span::styled(format!("{label}  "), Style::new().fg(Color::Gray)),
                        Span::styled(value.as_str(), Style::new().add_modifier(Modifier::BOLD)),
                    ])
                })
                .collect();
            frame.render_widget(
                Paragraph::new(lines)
                    .alignment(Alignment::Center)
                    .wrap(Wrap { trim: true }),
                middle,
            );
        }
        State::Ready | State::Failed { .. } => {}
    }
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(Span::styled(tip, Style::new().add_modifier(Modifier::BOLD))),
            Line::from(other_tip),
        ])
        .alignment(Alignment::Center),
        hint,
    );
    if let State::Failed {
        code: (exit, name), ..
    } = state
    {
        frame.render_widget(
            Paragraph::new(format!("code {exit} {name}"))
                .style(Style::new().fg(Color::DarkGray))
                .alignment(Alignment::Right),
            code,
        );
    }
}

/// The line `--plain` prints for a state.
pub(crate) fn line(state: &State, mode: Mode, lang: Lang) -> String {
    let (title, _) = words(state, mode, lang);
    match state {
        State::Success { facts, .. } => {
            let facts: Vec<&str> = facts.iter().map(|(_, v)| v.as_str()).collect();
            format!("{}: {title} ({})", state.kind(), facts.join(", "))
        }
        State::Failed {
            code: (exit, name), ..
        } => format!("{}: {title} [{exit} {name}]", state.kind()),
        _ => format!("{}: {title}", state.kind()),
    }
}

/// Where states go: the full screen, or lines.
trait Display {
    fn show(&mut self, state: &State) -> Result<(), KioskError>;
    /// Whether the person (or staff) asked to quit; waits up to `wait` for a key.
    fn quit(&mut self, wait: Duration) -> bool;
    /// An error's details, for staff and logs (the screen itself says it plainly).
    fn log(&mut self, error: &KioskError);
}

struct Plain {
    mode: Mode,
    lang: Lang,
    last: Option<String>,
}

impl Display for Plain {
    fn show(&mut self, state: &State) -> Result<(), KioskError> {
        let line = line(state, self.mode, self.lang);
        if self.last.as_ref() != Some(&line) {
            println!("{line}");
            self.last = Some(line);
        }
        Ok(())
    }

    fn quit(&mut self, wait: Duration) -> bool {
        std::thread::sleep(wait);
        false
    }

    fn log(&mut self, error: &KioskError) {
        eprintln!("kazashi-kiosk: {error} [{}]", error.code());
    }
}

struct Screen {
    terminal: ratatui::DefaultTerminal,
    mode: Mode,
    lang: Lang,
    state: State,
}

impl Display for Screen {
    fn show(&mut self, state: &State) -> Result<(), KioskError> {
        self.state = state.clone();
        self.redraw()
    }

    fn quit(&mut self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match event::poll(left) {
                Ok(true) => match event::read() {
                    Ok(Event::Key(key)) if key.kind == KeyEventKind::Press => {
                        let ctrl_c = key.code == KeyCode::Char('c')
                            && key.modifiers.contains(KeyModifiers::CONTROL);
                        if matches!(key.code, KeyCode::Char('q') | KeyCode::Esc) || ctrl_c {
                            return true;
                        }
                    }
                    Ok(Event::Resize(..)) => {
                        let _ = self.redraw();
                    }
                    Ok(_) => {}
                    // No keyboard to read: an unattended kiosk keeps running.
                    Err(_) => {
                        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                        return false;
                    }
                },
                Ok(false) => return false,
                Err(_) => {
                    std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                    return false;
                }
            }
        }
    }

    /// Nothing: stderr is the screen (the code is shown in its corner).
    fn log(&mut self, _error: &KioskError) {}
}

impl Screen {
    fn redraw(&mut self) -> Result<(), KioskError> {
        let (state, mode, lang) = (&self.state, self.mode, self.lang);
        self.terminal
            .draw(|frame| draw(frame, state, mode, lang))
            .map(|_| ())
            .map_err(|e| KioskError::File(format!("terminal: {e}")))
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// What each tap does.
enum Job {
    Read(Box<ReadOptions>),
    Collect(Box<CollectOptions>),
}

impl Job {
    /// Runs the job on a phone; the state to show after it.
    fn run(
        &self,
        card: &mut PcscReader,
        progress: &mut dyn FnMut(&str),
    ) -> Result<State, KioskError> {
        match self {
            Job::Read(options) => {
                let result = read::read(card, options, progress)?;
                let doc = &result.document;
                let mut facts = vec![("Document".to_string(), doc.doc_type().to_string())];
                let text = |name: &str| {
                    doc.items().iter().find_map(|(_, items)| {
                        items.iter().find_map(|(n, v)| match v {
                            ciborium::Value::Text(t) if n == name => Some(t.clone()),
                            _ => None,
                        })
                    })
                };
                let name: Vec<String> = ["family_name", "given_name"]
                    .iter()
                    .filter_map(|n| text(n))
                    .collect();
                if !name.is_empty() {
                    facts.push(("Name".into(), name.join(" ")));
                }
                for (_, items) in doc.items() {
                    for (n, v) in items {
                        if n.starts_with("age_over_") && *v == ciborium::Value::Bool(true) {
                            facts.push(("Age".into(), n.replace("age_over_", "over ")));
                        }
                    }
                }
                facts.push(("Issuer".into(), doc.issuer().subject()));
                Ok(State::Success {
                    printed: false,
                    facts,
                })
            }
            Job::Collect(options) => {
                let collected = collect::collect(card, options, progress)?;
                let c = &collected.certificate;
                Ok(State::Success {
                    printed: collected.printed.is_some(),
                    facts: vec![
                        ("証明書".into(), c.certificate_type.clone()),
                        ("氏名".into(), c.name()),
                        ("発行".into(), c.issuing_office.clone()),
                    ],
                })
            }
        }
    }
}

/// `kazashi-kiosk kiosk`.
pub(crate) fn command(args: &[String]) -> Result<(), KioskError> {
    let mut options: Vec<&str> = collect::OPTIONS.to_vec();
    options.extend_from_slice(&[
        "--mode",
        "--lang",
        "--hold",
        "--taps",
        "--doctype",
        "--items",
    ]);
    let args = Args::parse(args, &options, &["--short", "--print", "--plain"])?;
    let mode = match args.value("--mode").unwrap_or("read") {
        "read" => Mode::Read,
        "collect" => Mode::Collect,
        other => {
            return Err(KioskError::Usage(format!(
                "--mode {other}: read or collect"
            )));
        }
    };
    let lang = match args.value("--lang").unwrap_or("ja") {
        "ja" => Lang::Ja,
        "en" => Lang::En,
        other => return Err(KioskError::Usage(format!("--lang {other}: ja or en"))),
    };
    let reader = args.required("--reader")?.to_string();
    let hold = Duration::from_secs(args.number("--hold", 5)?);
    let taps = args.number("--taps", 0)?;
    let job = match mode {
        Mode::Read => Job::Read(Box::new(ReadOptions {
            engagement: None,
            doc_type: args.required("--doctype")?.to_string(),
            items: crate::parse_items(args.required("--items")?)?,
            trust: files::read_trust(std::path::Path::new(args.required("--issuer-trust")?))?,
            reader_auth: collect::reader_auth(&args)?,
            extended: !args.flag("--short"),
            now: files::now(),
        })),
        Mode::Collect => {
            let out = PathBuf::from(args.required("--out")?);
            Job::Collect(Box::new(collect::options(&args, out)?))
        }
    };
    if args.flag("--plain") || !std::io::stdout().is_terminal() {
        let mut display = Plain {
            mode,
            lang,
            last: None,
        };
        run(&mut display, &reader, &job, hold, taps)
    } else {
        let terminal =
            ratatui::try_init().map_err(|e| KioskError::File(format!("terminal: {e}")))?;
        let mut display = Screen {
            terminal,
            mode,
            lang,
            state: State::Ready,
        };
        run(&mut display, &reader, &job, hold, taps)
    }
}

/// Whether a phone is on the reader: `Ok(Some)` connected, `Ok(None)` none, `Err` no reader.
fn phone(reader: &str) -> Result<Option<PcscReader>, KioskError> {
    match PcscReader::connect(reader) {
        Ok(card) => Ok(Some(card)),
        Err(TransportError::NoCard) => Ok(None),
        Err(e) => Err(KioskError::NoPhone(format!("reader {reader}: {e}"))),
    }
}

fn run(
    display: &mut dyn Display,
    reader: &str,
    job: &Job,
    hold: Duration,
    taps: u64,
) -> Result<(), KioskError> {
    let poll = Duration::from_millis(150);
    let mut done = 0;
    loop {
        display.show(&State::Ready)?;
        // Wait for a phone (a missing reader is shown, and tried again).
        let first = loop {
            match phone(reader) {
                Ok(Some(card)) => break card,
                Ok(None) => {}
                Err(error) => {
                    display.show(&State::failed(&error))?;
                    if display.quit(hold) {
                        return Ok(());
                    }
                    continue;
                }
            }
            if display.quit(poll) {
                return Ok(());
            }
        };
        display.show(&State::Working(Step::Engagement))?;
        let mut shown = Ok(());
        let settle = Instant::now() + Duration::from_secs(10);
        let mut card = Some(first);
        let state = loop {
            let Some(current) = card.as_mut() else {
                break State::failed(&KioskError::Interrupted(TransportError::NoCard));
            };
            let mut progress = |line: &str| {
                if let Some(step) = Step::from_progress(line) {
                    if shown.is_ok() {
                        shown = display.show(&State::Working(step));
                    }
                }
            };
            match job.run(current, &mut progress) {
                Ok(state) => break state,
                // A phone just presented may not answer yet: try again, briefly.
                Err(KioskError::NotReady(_)) if Instant::now() < settle => {
                    // Disconnect first: PC/SC resets the card when a handle is dropped, which
                    // would upset a handle connected before it.
                    drop(card.take());
                    std::thread::sleep(Duration::from_millis(200));
                    card = phone(reader).ok().flatten();
                }
                Err(error) => {
                    display.log(&error);
                    break State::failed(&error);
                }
            }
        };
        shown?;
        drop(card);
        display.show(&state)?;
        done += 1;
        if display.quit(hold) || (taps > 0 && done >= taps) {
            return Ok(());
        }
        // Back to the prompt once the phone is taken away.
        while let Ok(Some(_)) = phone(reader) {
            if display.quit(poll) {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use kazashi_protocol::offline::OfflineError;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::buffer::Buffer;

    use super::*;

    /// The screen's text, row by row (a wide character's second cell skipped).
    fn rows(buffer: &Buffer) -> Vec<String> {
        let area = buffer.area;
        (0..area.height)
            .map(|y| {
                let mut row = String::new();
                let mut skip = 0;
                for x in 0..area.width {
                    let symbol = buffer[(x, y)].symbol();
                    if skip > 0 {
                        skip -= 1;
                        continue;
                    }
                    skip = Span::raw(symbol).width().saturating_sub(1);
                    row.push_str(symbol);
                }
                row
            })
            .collect()
    }

    fn screen(state: &State, mode: Mode, lang: Lang) -> (String, Buffer) {
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        terminal.draw(|f| draw(f, state, mode, lang)).unwrap();
        let buffer = terminal.backend().buffer().clone();
        (rows(&buffer).join("\n"), buffer)
    }

    fn find(buffer: &Buffer, needle: &str) -> (u16, u16) {
        let rows = rows(buffer);
        for (y, row) in rows.iter().enumerate() {
            if let Some(byte) = row.find(needle) {
                let x = Span::raw(&row[..byte]).width();
                return (u16::try_from(x).unwrap(), u16::try_from(y).unwrap());
            }
        }
        panic!("{needle:?} not on screen:\n{}", rows.join("\n"));
    }

    #[test]
    fn ready_asks_for_the_phone_in_both_languages() {
        let (text, buffer) = screen(&State::Ready, Mode::Collect, Lang::Ja);
        assert!(text.contains("スマートフォンをかざしてください"), "{text}");
        assert!(text.contains("Hold your phone to the reader"), "{text}");
        assert!(
            text.contains("証明書の受け取り / Collect a certificate"),
            "{text}"
        );
        assert!(!text.contains("code"), "{text}");
        // The headline is bold, white on the state's colour, and comes first.
        let (x, y) = find(&buffer, "スマートフォンをかざしてください");
        let cell = &buffer[(x, y)];
        assert_eq!(cell.bg, Color::Blue);
        assert!(cell.modifier.contains(Modifier::BOLD));
        assert!(y < find(&buffer, "Hold your phone").1);
        // English first when asked.
        let (_, buffer) = screen(&State::Ready, Mode::Read, Lang::En);
        assert!(find(&buffer, "Hold your phone").1 < find(&buffer, "スマートフォンを").1);
        assert!(
            rows(&buffer)
                .join("\n")
                .contains("Identity check / 本人確認")
        );
    }

    #[test]
    fn progress_shows_the_step_and_a_gauge() {
        let (text, buffer) = screen(&State::Working(Step::Verifying), Mode::Read, Lang::En);
        assert!(text.contains("Verifying…"), "{text}");
        assert!(text.contains("確認しています…"), "{text}");
        assert!(text.contains("65%"), "{text}");
        assert!(text.contains("Please keep your phone still"), "{text}");
        assert_eq!(buffer[find(&buffer, "Verifying")].bg, Color::Yellow);
        let (text, _) = screen(&State::Working(Step::Printing), Mode::Collect, Lang::Ja);
        assert!(
            text.contains("印刷しています…") && text.contains("92%"),
            "{text}"
        );
    }

    #[test]
    fn success_shows_the_key_facts() {
        let state = State::Success {
            printed: true,
            facts: vec![
                ("証明書".into(), "住民票の写し".into()),
                ("氏名".into(), "山田 太郎".into()),
            ],
        };
        let (text, buffer) = screen(&state, Mode::Collect, Lang::Ja);
        assert!(text.contains("証明書を印刷しています"), "{text}");
        assert!(text.contains("Your certificate is printing"), "{text}");
        assert!(
            text.contains("住民票の写し") && text.contains("山田 太郎"),
            "{text}"
        );
        assert!(text.contains("スマートフォンを離してください"), "{text}");
        assert_eq!(buffer[find(&buffer, "証明書を印刷")].bg, Color::Green);
        let saved = State::Success {
            printed: false,
            facts: vec![],
        };
        let (text, _) = screen(&saved, Mode::Collect, Lang::En);
        assert!(text.contains("Your certificate is ready"), "{text}");
        assert!(!text.contains("printing"), "{text}");
    }

    #[test]
    fn failures_are_plain_language_with_a_code_for_staff() {
        let cases: [(KioskError, &str, &str, &str); 7] = [
            (
                KioskError::Verification(OfflineError::NotTrusted),
                "Your document could not be verified",
                "書類を確認できませんでした",
                "code 8 not_trusted",
            ),
            (
                KioskError::Interrupted(TransportError::NoCard),
                "Your phone moved away too soon",
                "読み取りの途中でスマートフォンが離れました",
                "code 5 interrupted",
            ),
            (
                KioskError::NoDocument("none".into()),
                "No matching document was shared",
                "対象の書類が共有されませんでした",
                "code 9 no_document",
            ),
            (
                KioskError::NoPhone("reader gone".into()),
                "The reader is not available",
                "読み取り機が使えません",
                "code 4 no_phone",
            ),
            (
                KioskError::Print("no lp".into()),
                "could not be printed",
                "印刷できませんでした",
                "code 11 print",
            ),
            (
                KioskError::Session(OfflineError::DecryptionFailed),
                "Your phone could not be read",
                "スマートフォンを読み取れませんでした",
                "code 7 decryption_failed",
            ),
            (
                KioskError::NotReady(TransportError::NoCard),
                "Your phone could not be read",
                "スマートフォンを読み取れませんでした",
                "code 4 no_phone",
            ),
        ];
        for (error, en, ja, code) in cases {
            let state = State::failed(&error);
            let (text, buffer) = screen(&state, Mode::Collect, Lang::En);
            assert!(text.contains(en), "{text}");
            assert!(text.contains(ja), "{text}");
            assert!(text.contains(code), "{text}");
            assert_eq!(buffer[find(&buffer, en)].bg, Color::Red);
            // No internals on screen: the error's own message stays off it.
            assert!(!text.contains(&error.to_string()), "{text}");
            let plain = line(&state, Mode::Collect, Lang::En);
            assert!(
                plain.starts_with("failure: ") && plain.contains(en),
                "{plain}"
            );
            assert!(plain.ends_with(&format!("[{}]", &code[5..])), "{plain}");
            let plain = line(&state, Mode::Collect, Lang::Ja);
            assert!(plain.contains(ja), "{plain}");
        }
    }

    #[test]
    fn progress_lines_map_to_steps() {
        assert_eq!(
            Step::from_progress("Reading the phone's NFC handover…"),
            Some(Step::Engagement)
        );
        assert_eq!(
            Step::from_progress("Engagement from the QR code"),
            Some(Step::Engagement)
        );
        assert_eq!(
            Step::from_progress("Opening the session (extended APDUs)"),
            Some(Step::Session)
        );
        assert_eq!(
            Step::from_progress("Response received; verifying"),
            Some(Step::Verifying)
        );
        assert_eq!(
            Step::from_progress("Rendering the certificate"),
            Some(Step::Preparing)
        );
        assert_eq!(Step::from_progress("Printing"), Some(Step::Printing));
        assert_eq!(Step::from_progress("Phone detected"), None);
    }

    #[test]
    fn a_tiny_terminal_does_not_panic() {
        for (w, h) in [(20, 5), (1, 1), (200, 60)] {
            let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
            terminal
                .draw(|f| draw(f, &State::Working(Step::Session), Mode::Read, Lang::Ja))
                .unwrap();
        }
    }
}
