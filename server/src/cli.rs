//! The `kazashi-server` command line (`docs/server.md`, "CLI").

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use kazashi_protocol::hex as phex;
use kazashi_protocol::scp03::{KeyLength, diversify_static_keys};
use kazashi_se::state::{DEFAULT_ISD_AID, HexBytes, KeySet, Secret};
use kazashi_se::{CardState, ChallengeMode, Profile, Store};
use rand_core::OsRng;
use tracing_subscriber::EnvFilter;

use crate::config::{self, Config};
use crate::db::Db;
use crate::keys::{self, KeyRing};
use crate::registry::{self, Chip, ChipStatus};
use crate::state::AppState;

/// kazashi's mobile access server.
#[derive(Debug, Parser)]
#[command(name = "kazashi-server", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Manage the server's keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage providers.
    #[command(subcommand)]
    Provider(ProviderCommand),
    /// Manage chips.
    #[command(subcommand)]
    Chip(ChipCommand),
}

/// Where the data lives.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The data directory (keys; the SQLite database unless --database-url is given).
    #[arg(long, env = "KAZASHI_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The database URL: sqlite://… or postgres://….
    #[arg(long, env = "KAZASHI_DATABASE_URL")]
    pub database_url: Option<String>,
}

impl StoreArgs {
    fn url(&self) -> Result<String, String> {
        match (&self.database_url, &self.data_dir) {
            (Some(url), _) => Ok(url.clone()),
            (None, Some(dir)) => {
                create_dir(dir)?;
                Ok(config::sqlite_url(dir))
            }
            (None, None) => Err("give --data-dir or --database-url".into()),
        }
    }

    fn data_dir(&self) -> Result<&Path, String> {
        self.data_dir
            .as_deref()
            .ok_or_else(|| "this command needs --data-dir (the chip master key)".into())
    }
}

/// `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The data directory.
    #[arg(long, env = "KAZASHI_DATA_DIR")]
    pub data_dir: PathBuf,
    /// The address to listen on.
    #[arg(long, env = "KAZASHI_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The database URL (default: SQLite in the data directory).
    #[arg(long, env = "KAZASHI_DATABASE_URL")]
    pub database_url: Option<String>,
    /// The server's id (issuer); default: the public URL.
    #[arg(long, env = "KAZASHI_ID")]
    pub id: Option<String>,
    /// The public base URL; default: http://LISTEN.
    #[arg(long, env = "KAZASHI_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Launch URL lifetime, seconds.
    #[arg(long, default_value_t = config::DEFAULT_LAUNCH_TTL)]
    pub launch_ttl: u64,
}

/// `keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a new signing and encryption key; older keys stay published and usable.
    Rotate {
        /// The data directory.
        #[arg(long, env = "KAZASHI_DATA_DIR")]
        data_dir: PathBuf,
    },
}

/// `provider …`.
#[derive(Debug, Subcommand)]
pub enum ProviderCommand {
    /// Register a provider and its keys.
    Add {
        /// Where the data lives.
        #[command(flatten)]
        store: StoreArgs,
        /// The provider's id (its commands' `iss`).
        #[arg(long)]
        id: String,
        /// A JWKS file with its public keys.
        #[arg(long)]
        jwks: PathBuf,
        /// An AID its raw APDU operations may address (hex); repeatable.
        #[arg(long = "allow-aid")]
        allow_aid: Vec<String>,
    },
    /// List providers.
    List {
        /// Where the data lives.
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Remove a provider (its commands are refused from now on).
    Remove {
        /// Where the data lives.
        #[command(flatten)]
        store: StoreArgs,
        /// The provider's id.
        #[arg(long)]
        id: String,
    },
}

/// Options of a chip's secure channel.
#[derive(Debug, Args)]
pub struct ChipOptions {
    /// Key version number.
    #[arg(long, default_value_t = 0x30)]
    pub kvn: u8,
    /// The issuer security domain's AID (hex).
    #[arg(long)]
    pub isd_aid: Option<String>,
    /// AES key length in bytes.
    #[arg(long, default_value_t = 16, value_parser = parse_key_length)]
    pub key_length: u8,
    /// S16 mode.
    #[arg(long)]
    pub s16: bool,
    /// The chip makes random (not pseudo-random) card challenges.
    #[arg(long)]
    pub random_challenge: bool,
    /// The sequence counter the chip's next INITIALIZE UPDATE reports.
    #[arg(long, default_value_t = 1)]
    pub seq: u32,
}

/// `chip …`.
#[derive(Debug, Subcommand)]
pub enum ChipCommand {
    /// Register a real chip; its keys derive from the master key and its KDD.
    Add {
        /// Where the data lives.
        #[command(flatten)]
        store: StoreArgs,
        /// Key diversification data (10 bytes, hex).
        #[arg(long)]
        kdd: String,
        /// The chip's secure channel.
        #[command(flatten)]
        options: ChipOptions,
        /// The card image number (GET DATA 0045, hex): the chip's id. Default: the KDD.
        #[arg(long)]
        cin: Option<String>,
    },
    /// Create a virtual chip state file for kazashi-se with diversified keys, register it,
    /// and print its id.
    Personalize {
        /// Where the data lives.
        #[command(flatten)]
        store: StoreArgs,
        /// The state file to create.
        #[arg(long)]
        state: PathBuf,
        /// The chip's secure channel.
        #[command(flatten)]
        options: ChipOptions,
    },
    /// List chips.
    List {
        /// Where the data lives.
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Suspend a chip (a lost phone): its transactions are refused.
    Suspend(ChipId),
    /// Resume a suspended chip.
    Resume(ChipId),
    /// Retire a chip for good.
    Retire(ChipId),
}

/// A chip, by id.
#[derive(Debug, Args)]
pub struct ChipId {
    #[command(flatten)]
    store: StoreArgs,
    /// The chip's id (its CIN, hex).
    #[arg(long)]
    id: String,
}

/// Runs the command line; the exit code says whether it worked.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kazashi-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("kazashi-server: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn create_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))
}

async fn connect(store: &StoreArgs) -> Result<Db, String> {
    Db::connect(&store.url()?).await.map_err(|e| e.to_string())
}

fn parse_hex(what: &str, text: &str) -> Result<Vec<u8>, String> {
    phex::decode(text).ok_or_else(|| format!("{what}: not hex"))
}

/// Runs one command.
pub async fn run(command: Command) -> Result<(), String> {
    let now = crate::now();
    match command {
        Command::Serve(args) => serve(args).await,
        Command::Keys(KeysCommand::Rotate { data_dir }) => {
            create_dir(&data_dir)?;
            let (sig, enc) = keys::rotate(&data_dir).map_err(|e| e.to_string())?;
            println!("signing key {sig}\nencryption key {enc}");
            Ok(())
        }
        Command::Provider(ProviderCommand::Add {
            store,
            id,
            jwks,
            allow_aid,
        }) => {
            let db = connect(&store).await?;
            let text = std::fs::read(&jwks).map_err(|e| format!("{}: {e}", jwks.display()))?;
            let aids = allow_aid
                .iter()
                .map(|a| parse_hex("--allow-aid", a))
                .collect::<Result<Vec<_>, _>>()?;
            let kids = registry::add_provider(&db, &id, &text, &aids, now)
                .await
                .map_err(|e| e.to_string())?;
            println!("provider {id} added, keys {}", kids.join(" "));
            Ok(())
        }
        Command::Provider(ProviderCommand::List { store }) => {
            let db = connect(&store).await?;
            for p in registry::list_providers(&db)
                .await
                .map_err(|e| e.to_string())?
            {
                let aids: Vec<String> = p
                    .allowed_aids
                    .iter()
                    .map(|a| phex::encode_upper(a))
                    .collect();
                println!(
                    "{}\t{}\tkeys={}\taids={}",
                    p.id,
                    p.status,
                    p.kids.join(","),
                    aids.join(",")
                );
            }
            Ok(())
        }
        Command::Provider(ProviderCommand::Remove { store, id }) => {
            let db = connect(&store).await?;
            registry::remove_provider(&db, &id, now)
                .await
                .map_err(|e| e.to_string())?;
            println!("provider {id} removed");
            Ok(())
        }
        Command::Chip(ChipCommand::Add {
            store,
            kdd,
            options,
            cin,
        }) => {
            let db = connect(&store).await?;
            let kdd: [u8; 10] = parse_hex("--kdd", &kdd)?
                .try_into()
                .map_err(|_| "--kdd: 10 bytes".to_string())?;
            let id = match cin {
                Some(cin) => phex::encode_upper(&parse_hex("--cin", &cin)?),
                None => phex::encode_upper(&kdd),
            };
            let chip = chip_record(&id, kdd, &options)?;
            registry::add_chip(&db, &chip, now)
                .await
                .map_err(|e| e.to_string())?;
            println!("{id}");
            Ok(())
        }
        Command::Chip(ChipCommand::Personalize {
            store,
            state,
            options,
        }) => personalize(&store, &state, &options, now).await,
        Command::Chip(ChipCommand::List { store }) => {
            let db = connect(&store).await?;
            for c in registry::list_chips(&db).await.map_err(|e| e.to_string())? {
                println!(
                    "{}\t{}\tkdd={}\tkvn={:02X}\tkeys={}\tseq={}\t{}",
                    c.id,
                    c.status.as_str(),
                    phex::encode_upper(&c.kdd),
                    c.kvn,
                    c.key_length,
                    c.sequence_counter,
                    if c.random_challenge {
                        "random"
                    } else {
                        "pseudo-random"
                    }
                );
            }
            Ok(())
        }
        Command::Chip(ChipCommand::Suspend(chip)) => {
            set_status(chip, ChipStatus::Suspended, now).await
        }
        Command::Chip(ChipCommand::Resume(chip)) => set_status(chip, ChipStatus::Active, now).await,
        Command::Chip(ChipCommand::Retire(chip)) => {
            set_status(chip, ChipStatus::Retired, now).await
        }
    }
}

async fn set_status(chip: ChipId, to: ChipStatus, now: u64) -> Result<(), String> {
    let db = connect(&chip.store).await?;
    registry::set_chip_status(&db, &chip.id, to, now)
        .await
        .map_err(|e| e.to_string())?;
    println!("chip {} {}", chip.id, to.as_str());
    Ok(())
}

fn chip_record(id: &str, kdd: [u8; 10], options: &ChipOptions) -> Result<Chip, String> {
    let isd_aid = match &options.isd_aid {
        Some(aid) => parse_hex("--isd-aid", aid)?,
        None => DEFAULT_ISD_AID.to_vec(),
    };
    Ok(Chip {
        id: id.to_owned(),
        kdd,
        kvn: options.kvn,
        isd_aid,
        key_length: options.key_length,
        s16: options.s16,
        random_challenge: options.random_challenge,
        sequence_counter: options.seq,
        status: ChipStatus::Active,
    })
}

/// The key length of a byte count.
pub fn key_length(bytes: u8) -> KeyLength {
    match bytes {
        24 => KeyLength::Aes192,
        32 => KeyLength::Aes256,
        _ => KeyLength::Aes128,
    }
}

async fn personalize(
    store: &StoreArgs,
    state: &Path,
    options: &ChipOptions,
    now: u64,
) -> Result<(), String> {
    let data_dir = store.data_dir()?;
    create_dir(data_dir)?;
    let ring = KeyRing::load_or_create(data_dir).map_err(|e| e.to_string())?;
    let db = connect(store).await?;
    let mut profile = Profile::random(&mut OsRng);
    let kdd: [u8; 10] = profile
        .kdd
        .0
        .clone()
        .try_into()
        .map_err(|_| "profile KDD".to_string())?;
    let keys = diversify_static_keys(
        ring.chip_master().expose_secret(),
        &kdd,
        key_length(options.key_length),
    );
    profile.keys = KeySet {
        enc: Secret::new(keys.enc().expose_secret().to_vec()),
        mac: Secret::new(keys.mac().expose_secret().to_vec()),
        dek: Secret::new(keys.dek().expose_secret().to_vec()),
    };
    profile.kvn = options.kvn;
    if let Some(aid) = &options.isd_aid {
        profile.isd_aid = HexBytes(parse_hex("--isd-aid", aid)?);
    }
    profile.s16 = options.s16;
    profile.challenge = if options.random_challenge {
        ChallengeMode::Random
    } else {
        ChallengeMode::PseudoRandom
    };
    profile.sequence_counter = options.seq;
    profile.validate().map_err(str::to_owned)?;
    let id = profile.chip_id();
    let chip = chip_record(&id, kdd, options)?;
    let chip = Chip {
        isd_aid: profile.isd_aid.0.clone(),
        ..chip
    };
    Store::new(state)
        .create(&CardState::new(profile))
        .map_err(|e| format!("{}: {e}", state.display()))?;
    if let Err(e) = registry::add_chip(&db, &chip, now).await {
        let _ = std::fs::remove_file(state);
        return Err(e.to_string());
    }
    println!("{id}");
    Ok(())
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    create_dir(&args.data_dir)?;
    let mut config = Config::new(&args.data_dir, args.listen);
    if let Some(url) = args.database_url {
        config.database_url = url;
    }
    if let Some(public) = args.public_url {
        config.public_url = public.trim_end_matches('/').to_owned();
        config.id = config.public_url.clone();
    }
    if let Some(id) = args.id {
        config.id = id;
    }
    config.launch_ttl = args.launch_ttl;
    let keys = KeyRing::load_or_create(&config.data_dir).map_err(|e| e.to_string())?;
    let db = Db::connect(&config.database_url)
        .await
        .map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("{}: {e}", config.listen))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(
        listen = %local,
        issuer = %config.id,
        backend = ?db.backend,
        signing_kid = %keys.signing().kid,
        encryption_kid = %keys.encryption().kid,
        "kazashi-server listening"
    );
    let state = AppState::new(config, db, keys);
    tokio::spawn(purge_loop(state.clone()));
    tokio::spawn(counter_loop(state.clone()));
    tokio::spawn(checkpoint_loop(state.clone()));
    let served = axum::serve(listener, crate::build_router(state.clone()))
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(|e| e.to_string());
    if let Err(e) = state.counters.flush(&state.db).await {
        tracing::warn!(error = %e, "adding to the database counters failed");
    }
    served
}

/// Checkpoints an SQLite database (`Db::checkpoint`) four times a second beside the writers,
/// and starts the log over every two seconds: each checkpoint is short, and a page written
/// many times in between is copied once.
async fn checkpoint_loop(state: AppState) {
    if state.db.backend != crate::db::Backend::Sqlite {
        return;
    }
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
    for n in 1u64.. {
        tick.tick().await;
        if let Err(e) = state.db.checkpoint(n % 8 == 0).await {
            tracing::warn!(error = %e, "checkpoint failed");
        }
    }
}

/// Adds this instance's counts to the database counters every second.
async fn counter_loop(state: AppState) {
    let mut tick = tokio::time::interval(crate::metrics::COUNTER_FLUSH_INTERVAL);
    loop {
        tick.tick().await;
        if let Err(e) = state.counters.flush(&state.db).await {
            tracing::warn!(error = %e, "adding to the database counters failed");
        }
    }
}

async fn purge_loop(state: AppState) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tick.tick().await;
        match crate::transactions::purge(&state.db, crate::now()).await {
            Ok(n) if n > 0 => tracing::debug!(purged = n, "replay bookkeeping purged"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "purge failed"),
        }
    }
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

fn parse_key_length(text: &str) -> Result<u8, String> {
    match text {
        "16" => Ok(16),
        "24" => Ok(24),
        "32" => Ok(32),
        _ => Err("16, 24 or 32".into()),
    }
}
