//! The certificate a person collects at a kiosk (`docs/offline.md`, "Collecting at a kiosk"):
//! the document type, the elements read from the phone, and the A4 PDF rendered from a
//! verified one with a Japanese font (embedded, subset).

use std::path::{Path, PathBuf};

use ciborium::Value;
use kazashi_protocol::offline::VerifiedDocument;
use kazashi_protocol::offline::mso::format_rfc3339;
use krilla::Document;
use krilla::color::{luma, rgb};
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::Metadata;
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::text::{Font, TextDirection};
use sha2::{Digest, Sha256};
use skrifa::MetadataProvider;
use skrifa::instance::{LocationRef, Size};
use skrifa::string::StringId;

use crate::error::KioskError;

/// The certificate's document type (and its one namespace).
pub(crate) const DOCTYPE: &str = "jp.kazashi.certificate.1";
/// The namespace of its elements.
pub(crate) const NAMESPACE: &str = "jp.kazashi.certificate.1";
/// Elements a certificate must have.
pub(crate) const REQUIRED: [&str; 6] = [
    "certificate_type",
    "family_name",
    "given_name",
    "address",
    "issue_date",
    "issuing_office",
];
/// Elements printed when present.
pub(crate) const OPTIONAL: [&str; 2] = ["birth_date", "certificate_number"];

/// Where the kiosk looks for a Japanese font when `--font` is not given (Debian's
/// `fonts-ipafont-gothic`, its alternatives link, then Noto CJK collections).
pub(crate) const FONT_SEARCH: [&str; 5] = [
    "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf",
    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/ipafont-gothic/ipag.ttf",
];

/// Text every certificate carries (labels); a font must have glyphs for all of it.
const LABELS: &str = "証明書氏名生年月日住所番号発行者上記のとおり証明します。検証オフライン照合";

/// The `(namespace, element)` pairs `collect` asks for.
pub(crate) fn request_items() -> Vec<(String, String)> {
    REQUIRED
        .iter()
        .chain(OPTIONAL.iter())
        .map(|name| (NAMESPACE.to_string(), (*name).to_string()))
        .collect()
}

/// The certificate's contents, taken from a verified document.
#[derive(Debug, Clone)]
pub(crate) struct Certificate {
    /// e.g. 住民票の写し.
    pub(crate) certificate_type: String,
    /// Family name.
    pub(crate) family_name: String,
    /// Given name.
    pub(crate) given_name: String,
    /// Address.
    pub(crate) address: String,
    /// Issue date (as issued, e.g. 2026-11-30).
    pub(crate) issue_date: String,
    /// Issuing office, e.g. 緑市役所.
    pub(crate) issuing_office: String,
    /// Date of birth, when present.
    pub(crate) birth_date: Option<String>,
    /// Certificate number, when present.
    pub(crate) certificate_number: Option<String>,
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::Text(t) => Some(t.clone()),
        Value::Integer(i) => Some(i128::from(*i).to_string()),
        Value::Tag(0 | 1004, inner) => text(inner),
        _ => None,
    }
}

impl Certificate {
    /// The certificate in a verified document; `NoDocument` when it is not one, or lacks an
    /// element the certificate needs (the phone did not release it, or it was never issued).
    pub(crate) fn from_verified(doc: &VerifiedDocument) -> Result<Self, KioskError> {
        if doc.doc_type() != DOCTYPE {
            return Err(KioskError::NoDocument(format!(
                "{} is not a certificate ({DOCTYPE})",
                doc.doc_type()
            )));
        }
        let get = |name: &str| doc.item(NAMESPACE, name).and_then(text);
        let need = |name: &str| {
            get(name).ok_or_else(|| {
                KioskError::NoDocument(format!(
                    "the certificate has no {name} (as text) among the elements released"
                ))
            })
        };
        Ok(Self {
            certificate_type: need("certificate_type")?,
            family_name: need("family_name")?,
            given_name: need("given_name")?,
            address: need("address")?,
            issue_date: need("issue_date")?,
            issuing_office: need("issuing_office")?,
            birth_date: get("birth_date"),
            certificate_number: get("certificate_number"),
        })
    }

    /// The holder's name as printed.
    pub(crate) fn name(&self) -> String {
        format!("{} {}", self.family_name, self.given_name)
    }
}

/// What the kiosk checked, printed at the foot of the certificate.
pub(crate) struct Verification {
    /// Document signer certificate subject.
    pub(crate) signer: String,
    /// Its issuer.
    pub(crate) signer_issuer: String,
    /// Its validity (RFC 3339).
    pub(crate) signer_valid: (String, String),
    /// The document's validity (RFC 3339).
    pub(crate) document_valid: (String, String),
    /// SHA-256 of the signer certificate, hex.
    pub(crate) signer_fingerprint: String,
    /// `signature` or `mac`.
    pub(crate) device_auth: String,
    /// When the kiosk verified it (RFC 3339).
    pub(crate) verified_at: String,
    /// The terminal's name.
    pub(crate) terminal: String,
}

impl Verification {
    /// The facts of a verified document.
    pub(crate) fn new(doc: &VerifiedDocument, now: u64, terminal: &str) -> Self {
        let signer = doc.issuer();
        let validity = doc.validity();
        Self {
            signer: signer.subject(),
            signer_issuer: signer.issuer(),
            signer_valid: (
                format_rfc3339(signer.not_before()),
                format_rfc3339(signer.not_after()),
            ),
            document_valid: (
                format_rfc3339(validity.valid_from),
                format_rfc3339(validity.valid_until),
            ),
            signer_fingerprint: hex::encode(Sha256::digest(signer.der())),
            device_auth: doc.device_auth().as_str().to_string(),
            verified_at: format_rfc3339(now),
            terminal: terminal.to_string(),
        }
    }
}

/// A font that can render Japanese, loaded and checked before any phone is read.
pub(crate) struct JapaneseFont {
    data: Vec<u8>,
    index: u32,
    path: PathBuf,
}

impl std::fmt::Debug for JapaneseFont {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JapaneseFont({}#{})", self.path.display(), self.index)
    }
}

impl JapaneseFont {
    /// `--font FILE`, or the first of [`FONT_SEARCH`] that exists. A font that is missing, not
    /// a font, or has no Japanese glyphs is a `Font` error (exit 10).
    pub(crate) fn find(path: Option<&Path>) -> Result<Self, KioskError> {
        match path {
            Some(path) => Self::load(path),
            None => {
                let found = FONT_SEARCH
                    .iter()
                    .map(Path::new)
                    .find(|p| p.is_file())
                    .ok_or_else(|| {
                        KioskError::Font(format!(
                            "no Japanese font found (looked for {}); install fonts-ipafont-gothic \
                             or give --font FILE",
                            FONT_SEARCH.join(", ")
                        ))
                    })?;
                Self::load(found)
            }
        }
    }

    /// Loads a TrueType/OpenType font or collection (the face whose family names Japan, in a
    /// collection) and checks it covers the certificate's labels.
    pub(crate) fn load(path: &Path) -> Result<Self, KioskError> {
        let data = std::fs::read(path)
            .map_err(|e| KioskError::Font(format!("font {}: {e}", path.display())))?;
        let mut index = None;
        for i in 0..64 {
            let Ok(face) = skrifa::FontRef::from_index(&data, i) else {
                break;
            };
            let family = face
                .localized_strings(StringId::FAMILY_NAME)
                .english_or_first()
                .map(|s| s.to_string())
                .unwrap_or_default();
            if index.is_none() || family.contains(" JP") {
                index = Some(i);
            }
            if family.contains(" JP") {
                break;
            }
        }
        let index = index.ok_or_else(|| {
            KioskError::Font(format!(
                "font {}: not a TrueType or OpenType font",
                path.display()
            ))
        })?;
        let font = Self {
            data,
            index,
            path: path.to_path_buf(),
        };
        font.check(LABELS)?;
        Ok(font)
    }

    fn face(&self) -> Result<skrifa::FontRef<'_>, KioskError> {
        skrifa::FontRef::from_index(&self.data, self.index)
            .map_err(|e| KioskError::Font(format!("font {}: {e}", self.path.display())))
    }

    /// Fails when a character of `text` has no glyph (it would print as a blank box).
    pub(crate) fn check(&self, text: &str) -> Result<(), KioskError> {
        let face = self.face()?;
        let charmap = face.charmap();
        match text
            .chars()
            .find(|c| !c.is_whitespace() && charmap.map(*c).is_none())
        {
            Some(c) => Err(KioskError::Font(format!(
                "font {} has no glyph for {c:?} (U+{:04X}); give --font with a Japanese font",
                self.path.display(),
                u32::from(c)
            ))),
            None => Ok(()),
        }
    }

    /// The advance width of `text` at `size` points (no kerning; for alignment).
    fn width(&self, text: &str, size: f32) -> f32 {
        let Ok(face) = self.face() else {
            return 0.0;
        };
        let charmap = face.charmap();
        let metrics = face.glyph_metrics(Size::new(size), LocationRef::default());
        text.chars()
            .filter_map(|c| charmap.map(c))
            .filter_map(|g| metrics.advance_width(g))
            .sum()
    }

    /// The file it was loaded from.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

const A4: (f32, f32) = (595.28, 841.89);
const MARGIN: f32 = 56.0;
const INK: u8 = 0x20;
const GREY: u8 = 0x60;

struct Pen<'a, 'b> {
    surface: &'a mut Surface<'b>,
    font: Font,
    metrics: &'a JapaneseFont,
}

impl Pen<'_, '_> {
    fn colour(&mut self, grey: u8) {
        self.surface.set_fill(Some(Fill {
            paint: luma::Color::new(grey).into(),
            opacity: NormalizedF32::ONE,
            rule: Default::default(),
        }));
    }

    fn text(&mut self, x: f32, y: f32, size: f32, text: &str) {
        self.surface.draw_text(
            Point::from_xy(x, y),
            self.font.clone(),
            size,
            text,
            false,
            TextDirection::Auto,
        );
    }

    fn centred(&mut self, y: f32, size: f32, text: &str) {
        let width = self.metrics.width(text, size);
        self.text((A4.0 - width) / 2.0, y, size, text);
    }

    fn right(&mut self, y: f32, size: f32, text: &str) {
        let width = self.metrics.width(text, size);
        self.text(A4.0 - MARGIN - 24.0 - width, y, size, text);
    }

    /// Draws `text` wrapped to `width`; returns the baseline after the last line.
    fn wrapped(&mut self, x: f32, mut y: f32, size: f32, width: f32, text: &str) -> f32 {
        let mut line = String::new();
        for c in text.chars() {
            line.push(c);
            if self.metrics.width(&line, size) > width {
                line.pop();
                let rest = std::mem::take(&mut line);
                self.text(x, y, size, &rest);
                y += size * 1.5;
                line.push(c);
            }
        }
        if !line.is_empty() {
            self.text(x, y, size, &line);
        }
        y
    }

    fn rule(&mut self, y: f32, width: f32, grey: u8) {
        let mut path = PathBuilder::new();
        path.move_to(MARGIN + 24.0, y);
        path.line_to(A4.0 - MARGIN - 24.0, y);
        if let Some(path) = path.finish() {
            self.surface.set_fill(None);
            self.surface.set_stroke(Some(Stroke {
                paint: luma::Color::new(grey).into(),
                width,
                ..Default::default()
            }));
            self.surface.draw_path(&path);
            self.surface.set_stroke(None);
        }
    }

    fn rect(&mut self, rect: Rect, fill: Option<rgb::Color>, stroke: Option<(u8, f32)>) {
        let mut path = PathBuilder::new();
        path.push_rect(rect);
        let Some(path) = path.finish() else {
            return;
        };
        self.surface.set_fill(fill.map(|c| Fill {
            paint: c.into(),
            opacity: NormalizedF32::ONE,
            rule: Default::default(),
        }));
        self.surface.set_stroke(stroke.map(|(grey, width)| Stroke {
            paint: luma::Color::new(grey).into(),
            width,
            ..Default::default()
        }));
        self.surface.draw_path(&path);
        self.surface.set_stroke(None);
    }
}

/// Renders the certificate as a one-page A4 PDF (the font embedded as a subset).
pub(crate) fn render(
    cert: &Certificate,
    facts: &Verification,
    font: &JapaneseFont,
) -> Result<Vec<u8>, KioskError> {
    let values = [
        cert.certificate_type.as_str(),
        &cert.family_name,
        &cert.given_name,
        &cert.address,
        &cert.issue_date,
        &cert.issuing_office,
        cert.birth_date.as_deref().unwrap_or(""),
        cert.certificate_number.as_deref().unwrap_or(""),
    ];
    for value in values {
        font.check(value)?;
    }
    let pdf_font = Font::new(font.data.clone().into(), font.index).ok_or_else(|| {
        KioskError::Font(format!(
            "font {}: the PDF writer cannot use it",
            font.path.display()
        ))
    })?;
    let mut document = Document::new();
    document.set_metadata(
        Metadata::new()
            .title(format!("{} - {}", cert.certificate_type, cert.name()))
            .creator("kazashi-kiosk collect".into())
            .language("ja".into()),
    );
    let settings =
        PageSettings::from_wh(A4.0, A4.1).ok_or_else(|| KioskError::File("page size".into()))?;
    let mut page = document.start_page_with(settings);
    let mut surface = page.surface();
    let mut pen = Pen {
        surface: &mut surface,
        font: pdf_font,
        metrics: font,
    };

    // Frame and title.
    let frame = Rect::from_xywh(MARGIN, MARGIN, A4.0 - 2.0 * MARGIN, A4.1 - 2.0 * MARGIN);
    if let Some(frame) = frame {
        pen.rect(frame, None, Some((GREY, 1.2)));
    }
    pen.colour(INK);
    pen.centred(150.0, 28.0, &cert.certificate_type);
    pen.colour(GREY);
    pen.centred(
        174.0,
        10.0,
        "Certificate - issued electronically, verified offline",
    );
    pen.rule(196.0, 0.8, GREY);

    // The fields.
    let mut rows: Vec<(&str, &str, String)> = vec![("氏名", "Name", cert.name())];
    if let Some(birth) = &cert.birth_date {
        rows.push(("生年月日", "Date of birth", birth.clone()));
    }
    rows.push(("住所", "Address", cert.address.clone()));
    if let Some(number) = &cert.certificate_number {
        rows.push(("証明書番号", "Number", number.clone()));
    }
    rows.push(("発行日", "Issue date", cert.issue_date.clone()));
    let label_x = MARGIN + 32.0;
    let value_x = MARGIN + 150.0;
    let value_width = A4.0 - MARGIN - 32.0 - value_x;
    let mut y = 246.0;
    for (ja, en, value) in &rows {
        pen.colour(INK);
        pen.text(label_x, y, 12.0, ja);
        pen.colour(GREY);
        pen.text(label_x, y + 13.0, 8.0, en);
        pen.colour(INK);
        y = pen.wrapped(value_x, y, 15.0, value_width, value);
        y += 44.0;
    }

    // The statement and the issuer.
    pen.colour(INK);
    pen.text(label_x, y + 10.0, 13.0, "上記のとおり証明します。");
    y += 70.0;
    pen.right(y, 12.0, &cert.issue_date);
    pen.right(y + 30.0, 18.0, &cert.issuing_office);
    pen.colour(GREY);
    pen.right(y + 46.0, 8.0, "発行者 Issued by");

    // Verification facts.
    let box_top = A4.1 - MARGIN - 150.0;
    if let Some(panel) = Rect::from_xywh(MARGIN + 16.0, box_top, A4.0 - 2.0 * MARGIN - 32.0, 134.0)
    {
        pen.rect(
            panel,
            Some(rgb::Color::new(0xf2, 0xf4, 0xf7)),
            Some((0xb0, 0.6)),
        );
    }
    let x = MARGIN + 30.0;
    let width = A4.0 - 2.0 * MARGIN - 60.0;
    pen.colour(INK);
    pen.text(x, box_top + 20.0, 10.0, "検証 Verification");
    pen.colour(GREY);
    let lines = [
        format!(
            "オフラインで検証 Verified offline at {} by {}",
            facts.verified_at, facts.terminal
        ),
        format!(
            "発行者証明書 Document signer: {} (issued by {})",
            facts.signer, facts.signer_issuer
        ),
        format!(
            "証明書の有効期間 Signer valid {} - {}; 文書 document valid {} - {}",
            facts.signer_valid.0,
            facts.signer_valid.1,
            facts.document_valid.0,
            facts.document_valid.1
        ),
        format!(
            "照合 Signer SHA-256 {}; device {}",
            facts.signer_fingerprint, facts.device_auth
        ),
    ];
    let mut y = box_top + 38.0;
    for line in &lines {
        y = pen.wrapped(x, y, 7.5, width, line) + 15.0;
    }
    surface.finish();
    page.finish();
    document
        .finish()
        .map_err(|e| KioskError::File(format!("PDF: {e:?}")))
}
