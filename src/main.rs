//! The `nnc` command line: argument parsing, printing and exit codes (0 success, 1 an error in the
//! user's input, 2 a usage error). Every piece of logic lives in the library; this file only
//! calls it and prints what it returns.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Args, Parser, Subcommand};

use nnc::diag::Diagnostic;
use nnc::ir::print_function;
use nnc::lower::spec::{
    Monitor, CHECKPOINT_EVERY, EPOCHS, SEED, SPLIT_SEED, TEST_FRACTION, THREADS,
    VALIDATION_FRACTION,
};
use nnc::train::overrides::BatchSize;
use nnc::train::session::{self, NativeListing, Overrides, Persistence, RunOptions};
use nnc::train::{cv, saved, EpochRecord};

#[derive(Parser)]
#[command(
    name = "nnc",
    version,
    about = "Compile and train neural networks described in .nn files",
    long_about = "nnc compiles a declarative .nn model file — layers, loss, optimizer, data and training — \
                  into native code with Cranelift and trains it.\n\nStart with `nnc run examples/iris.nn`; \
                  the language is described in docs/language.md."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone, Default)]
struct DataArgs {
    /// Data to use instead of the file the model file names (relative to the current folder): a
    /// CSV file, a Parquet file, or a folder of Parquet part files
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,
    /// Target column to use instead of the one the model file names
    #[arg(long, value_name = "COLUMN")]
    target: Option<String>,
    /// Field delimiter: comma, semicolon, tab, pipe or one character (default: detected)
    #[arg(long, value_name = "DELIMITER")]
    delimiter: Option<String>,
    /// Missing values: error, drop, mean, median, most_frequent or 'constant(VALUE)'
    #[arg(long, value_name = "STRATEGY")]
    missing: Option<String>,
    /// Outliers: none, 'clip(z: 3)' or 'clip(quantiles: 0.01)'
    #[arg(long, value_name = "RULE")]
    outliers: Option<String>,
    /// Scaling of numeric columns: standard, minmax, robust or none
    #[arg(long, value_name = "SCALING")]
    scaling: Option<String>,
    /// Test rows from this file (CSV or Parquet) instead of a fraction of the data
    #[arg(long, value_name = "FILE")]
    test_data: Option<PathBuf>,
    /// Validation rows from this file (CSV or Parquet) instead of a fraction of the data
    #[arg(long, value_name = "FILE")]
    validation_data: Option<PathBuf>,
    /// Columns to leave out, as a list: '[id, "full name"]'
    #[arg(long, value_name = "LIST")]
    ignore: Option<String>,
    /// Columns read as categories even when they hold numbers, as a list: '[zip]'
    #[arg(long, value_name = "LIST")]
    categorical: Option<String>,
    /// More texts that mean a missing value, as a list: '["-", -999]'
    #[arg(long, value_name = "LIST")]
    missing_markers: Option<String>,
    /// A category never seen in training: zeros or error
    #[arg(long, value_name = "zeros|error")]
    unseen: Option<String>,
    /// The decimal separator of numbers: point or comma
    #[arg(long, value_name = "point|comma")]
    decimal: Option<String>,
    /// The memory the data may take, as `512MiB` or `2GB`: a larger file is read in chunks,
    /// prepared into a temporary file and streamed through training (default: the file's
    /// `memory_limit`, else half of the machine's memory)
    #[arg(long, value_name = "SIZE", value_parser = |s: &str| nnc::data::stream::parse_size(s).ok_or_else(|| "give a size of at least 1 KiB with its unit, as 512MiB or 2GB".to_string()))]
    memory_limit: Option<u64>,
    /// Seed of the train/validation/test split, 0 to 4294967295 (default: the training seed)
    #[arg(long, allow_negative_numbers = true, value_parser = |s: &str| SPLIT_SEED.parse(s))]
    split_seed: Option<u64>,
    /// Override any option of the file by its dotted path, e.g. `optimizer.learning_rate=0.003`,
    /// `model.2.units=128` (layer 2) or `loss=mse`; repeatable, applied in order
    #[arg(long = "set", value_name = "KEY=VALUE", allow_hyphen_values = true)]
    set: Vec<String>,
}

#[derive(Args, Clone, Default)]
struct TrainArgs {
    /// Number of epochs, 1 to 1000000 (overrides the file)
    #[arg(long, allow_negative_numbers = true, value_parser = |s: &str| EPOCHS.parse(s))]
    epochs: Option<u64>,
    /// Mini-batch size, 1 to 1048576, or `all` for the whole training split (overrides the file)
    #[arg(long, allow_negative_numbers = true, value_parser = |s: &str| BatchSize::parse(s))]
    batch_size: Option<BatchSize>,
    /// Seed for initialization, splitting and shuffling, 0 to 4294967295 (overrides the file)
    #[arg(long, allow_negative_numbers = true, value_parser = |s: &str| SEED.parse(s))]
    seed: Option<u64>,
    #[command(flatten)]
    step: StepArgs,
}

/// How the training step runs: on `run`, `cv` and `bench`.
#[derive(Args, Clone, Default)]
struct StepArgs {
    /// Threads that run each training step together, 1 to 256 (default: the cores available,
    /// for a step large enough to share; overrides the file)
    #[arg(long, allow_negative_numbers = true, value_parser = |s: &str| THREADS.parse(s))]
    threads: Option<u64>,
    /// Compute the training statistics in the step (per-layer activations, dead and saturated
    /// units, gradient and update norms; see docs/insight.md): the default; overrides the file's
    /// `monitor: false`
    #[arg(long, conflicts_with = "no_monitor")]
    monitor: bool,
    /// Compute no training statistics (nor the warnings made from them); overrides the file's
    /// `monitor: true`
    #[arg(long)]
    no_monitor: bool,
}

impl StepArgs {
    /// `--monitor` or `--no-monitor`, if either is given.
    fn monitor(&self) -> Option<bool> {
        match (self.monitor, self.no_monitor) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        }
    }
}

/// How `nnc check` reports diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum MessageFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Parse, resolve and shape-check a model file; silent and exit 0 when it is valid
    Check {
        /// The model file
        file: PathBuf,
        /// How to report problems: `human` (the terminal rendering, on stderr) or `json` (one JSON
        /// object per diagnostic and line, on stdout, for editors and CI annotations)
        #[arg(long, value_enum, default_value = "human")]
        message_format: MessageFormat,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Rewrite model files in the canonical layout, comments kept; with --check, only report the
    /// files that are not in it
    ///
    /// The layout is described in docs/formatting.md. A file is rewritten only if it changes. A
    /// file that cannot be read or does not parse is reported and left as it is; the other files
    /// are still formatted, and the exit code is 1.
    Fmt {
        /// The model files; `-` reads standard input and writes the formatted text to standard
        /// output
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Write nothing: print each file that is not formatted with its first differing line,
        /// and exit 1 if there is one
        #[arg(long)]
        check: bool,
    },
    /// Run the language server on stdin and stdout, for editors: diagnostics as you type
    Lsp,
    /// Print a table of the model's layers, output shapes and parameter counts
    Summary {
        /// The model file
        file: PathBuf,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Print each layer's forward formulas and the backward formulas the compiler derived for it,
    /// read off the IR, in mathematical notation
    Explain {
        /// The model file
        file: PathBuf,
        /// Write the formulas as a self-contained HTML page (MathML) to this file instead
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Print the model's IR: the forward pass, or with --grad the backward pass, or with --step the
    /// whole training step including the optimizer update
    Ir {
        /// The model file
        file: PathBuf,
        /// Print the gradient function (loss and d_<param> outputs): what autodiff produced, after
        /// the optimizing pass
        #[arg(long, conflicts_with = "step")]
        grad: bool,
        /// Print the whole training step: forward, loss, backward and optimizer update, after the
        /// optimizing pass
        #[arg(long)]
        step: bool,
        /// Print what code generation made of the function instead of the IR
        #[arg(long, value_enum, value_name = "FORMAT")]
        emit: Option<Emit>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Measure a model's training throughput on synthetic data of its shape: compile time,
    /// samples per second and GFLOP/s of the training step, evaluation throughput, peak memory
    Bench {
        /// The model file (its `input(...)` must declare the width)
        file: PathBuf,
        /// Batch size, instead of the file's
        #[arg(long, value_name = "N")]
        batch: Option<usize>,
        /// Samples of synthetic data per epoch (whole batches of them)
        #[arg(long, value_name = "N", default_value_t = 10_000)]
        samples: usize,
        /// Timed epochs after one warm-up epoch; throughput is over the median (at least 5)
        #[arg(long, value_name = "N", default_value_t = 5)]
        epochs: usize,
        /// Print one JSON object instead of a table
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        step: StepArgs,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Load the data, compile, train, and evaluate on the held-out test split
    Run {
        /// The model file
        file: PathBuf,
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        training: TrainArgs,
        /// Share of the rows held out for the final test, 0 to 0.9 (overrides the file; default 0.2)
        #[arg(
            long,
            value_name = "FRACTION",
            allow_negative_numbers = true,
            value_parser = |s: &str| TEST_FRACTION.parse(s)
        )]
        test_fraction: Option<f64>,
        /// Share of the remaining rows used for validation, 0 to 0.9 (overrides the file; default
        /// 0.1)
        #[arg(
            long,
            value_name = "FRACTION",
            allow_negative_numbers = true,
            value_parser = |s: &str| VALIDATION_FRACTION.parse(s)
        )]
        validation_fraction: Option<f64>,
        /// Run on the reference interpreter (f64) instead of compiled code
        #[arg(long)]
        interp: bool,
        /// Write a JSON report of the run to this file
        #[arg(long, value_name = "FILE.json")]
        report: Option<PathBuf>,
        /// Print only the final metrics, not a line per epoch
        #[arg(long, short)]
        quiet: bool,
        /// Save the trained model (weights, preprocessing, metrics, history, plots) to this folder
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Write a checkpoint into the --out folder every N epochs (overrides the file's
        /// `checkpoint_every`), from which --resume continues exactly
        #[arg(
            long,
            value_name = "N",
            requires = "out",
            conflicts_with = "interp",
            value_parser = |s: &str| CHECKPOINT_EVERY.parse(s)
        )]
        checkpoint_every: Option<u64>,
        /// Continue the run whose checkpoint is in this folder (usually the --out folder): same
        /// model, data and settings; only --epochs may grow
        #[arg(long, value_name = "DIR", requires = "out", conflicts_with = "interp")]
        resume: Option<PathBuf>,
        /// Train one variant per value, e.g. `model.1.units=32,64,128`; repeated, every combination;
        /// ends with a table of the variants, best first (--report writes it as JSON)
        #[arg(
            long,
            value_name = "KEY=V1,V2,...",
            allow_hyphen_values = true,
            conflicts_with = "out"
        )]
        sweep: Vec<String>,
    },
    /// k-fold cross-validation: train on k−1 folds, evaluate on the held-out one, k times
    Cv {
        /// The model file
        file: PathBuf,
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        training: TrainArgs,
        /// Number of folds (stratified by class for classification), 2 to the number of rows
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(2..=1000))]
        folds: u32,
        /// Run on the reference interpreter (f64) instead of compiled code
        #[arg(long)]
        interp: bool,
        /// Write every fold's metrics and their mean and standard deviation as JSON to this file
        #[arg(long, value_name = "FILE.json")]
        report: Option<PathBuf>,
    },
    /// Predict with a model saved by `nnc run --out DIR`: one output row per input row
    Predict {
        /// The folder the model was saved to
        model: PathBuf,
        /// The rows to predict, CSV or Parquet (the target column may be absent)
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
        /// Where to write the predictions (default: standard output)
        #[arg(long, value_name = "FILE.csv")]
        output: Option<PathBuf>,
    },
    /// Export a model saved by `nnc run --out DIR` for serving engines: `--onnx FILE` writes one
    /// ONNX file that takes the raw feature columns (with the fitted preprocessing inside) to
    /// the predictions `nnc predict` makes
    Export {
        /// The folder the model was saved to
        model: PathBuf,
        /// Write the model as ONNX (opset 17 and ai.onnx.ml) to this file
        #[arg(long, value_name = "FILE.onnx")]
        onnx: PathBuf,
    },
    /// Evaluate a model saved by `nnc run --out DIR` on labelled data
    Eval {
        /// The folder the model was saved to
        model: PathBuf,
        /// Labelled rows, with the target column (CSV or Parquet)
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
        /// Write the metrics as JSON to this file
        #[arg(long, value_name = "FILE.json")]
        report: Option<PathBuf>,
    },
}

#[derive(clap::ValueEnum, Clone, Copy)]
enum Emit {
    /// Cranelift IR of the compiled function
    Clif,
    /// Machine instructions of the compiled function
    Asm,
}

/// Set when standard output was closed (`nnc run --out DIR | head`): printing stops, the work
/// (training, saving) goes on.
static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Write to stdout. A closed pipe stops the printing quietly, as it stops any Unix tool's output,
/// instead of panicking as `println!` does; the command still finishes its work and its exit code
/// reports that work.
fn write_stdout(args: std::fmt::Arguments) {
    use std::io::Write;
    use std::sync::atomic::Ordering;
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            return;
        }
        eprintln!("nnc: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

/// Standard output as a writer that, like [`write_stdout`], ends the output quietly when its
/// reader went away (`| head`).
struct StdoutLines;

impl std::io::Write for StdoutLines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use std::sync::atomic::Ordering;
        if STDOUT_CLOSED.load(Ordering::Relaxed) {
            return Ok(buf.len());
        }
        // Bytes as they come: a buffer may end inside a character.
        if let Err(e) = std::io::stdout().lock().write_all(buf) {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(e);
            }
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `nnc predict --output FILE`: the predictions written beside `path` under a hidden name and
/// moved onto it once complete, so that a failure leaves an earlier file whole.
fn predict_into_file(
    loaded: &mut saved::LoadedModel,
    data: &std::path::Path,
    path: &std::path::Path,
) -> Result<saved::PredictSummary, Diagnostic> {
    let name = path.display().to_string();
    let failed = |e: std::io::Error| saved::predictions_write_failed(&name, &e.to_string());
    let file_name = path.file_name().map_or_else(
        || "predictions".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    let partial = path.with_file_name(format!(".{file_name}.partial-{}", std::process::id()));
    let file = std::fs::File::create(&partial).map_err(failed)?;
    let mut out = std::io::BufWriter::new(file);
    let written = loaded
        .predict_to(data, &mut out, &name)
        .and_then(|summary| {
            let file = out.into_inner().map_err(|e| failed(e.into_error()))?;
            file.sync_all().map_err(failed)?;
            std::fs::rename(&partial, path).map_err(failed)?;
            Ok(summary)
        });
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written
}

macro_rules! say {
    ($($arg:tt)*) => { write_stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

macro_rules! say_raw {
    ($($arg:tt)*) => { write_stdout(format_args!($($arg)*)) };
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `check` reports every independent error of the file, not only the first.
    if let Command::Check {
        file,
        message_format,
        data,
    } = &cli.command
    {
        let found = session::check_file(file, &overrides(data));
        for d in &found {
            match message_format {
                MessageFormat::Json => println!("{}", d.to_json()),
                MessageFormat::Human => eprintln!("{:?}", miette::Report::new(d.clone())),
            }
        }
        // Warnings are shown, but only errors fail the check.
        return if found.iter().all(|d| d.warning) {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        };
    }
    if let Command::Fmt { files, check } = &cli.command {
        return fmt(files, *check);
    }
    match dispatch(cli.command) {
        Ok(()) if STOPPED.load(Ordering::SeqCst) => ExitCode::from(130),
        Ok(()) => ExitCode::SUCCESS,
        Err(d) => {
            eprintln!("{:?}", miette::Report::new(d));
            ExitCode::from(1)
        }
    }
}

#[path = "cli/sweep.rs"]
mod sweep;

fn overrides(data: &DataArgs) -> Overrides {
    Overrides {
        data: data.data.clone(),
        target: data.target.clone(),
        delimiter: data.delimiter.clone(),
        missing: data.missing.clone(),
        outliers: data.outliers.clone(),
        scaling: data.scaling.clone(),
        test_data: data.test_data.clone(),
        validation_data: data.validation_data.clone(),
        split_seed: data.split_seed,
        unseen: data.unseen.clone(),
        decimal: data.decimal.clone(),
        ignore: data.ignore.clone(),
        categorical: data.categorical.clone(),
        missing_markers: data.missing_markers.clone(),
        memory_limit: data.memory_limit,
        set: data.set.clone(),
        ..Default::default()
    }
}

fn dispatch(command: Command) -> Result<(), Diagnostic> {
    match command {
        Command::Bench {
            file,
            batch,
            samples,
            epochs,
            json,
            step,
            data,
        } => {
            let opts = nnc::train::bench::BenchOptions {
                batch,
                samples,
                epochs,
            };
            let overrides = Overrides {
                threads: step.threads,
                monitor: step.monitor(),
                ..overrides(&data)
            };
            let r = nnc::train::bench::bench(&file, &overrides, &opts)?;
            if json {
                say_raw!(
                    "{}",
                    serde_json::to_string(&r).expect("invariant: a bench report serializes")
                );
            } else {
                say_raw!(
                    "{}: batch {}, {} samples per epoch, median of {} epochs\n\
                     compile           {:>10.1} ms\n\
                     initialization    {:>10.1} ms\n\
                     training          {:>10.0} samples/s  {:.2} GFLOP/s\n\
                     evaluation        {:>10.0} samples/s\n\
                     peak memory       {:>10} MiB\n{}",
                    r.model,
                    r.batch,
                    r.samples_per_epoch,
                    r.epochs,
                    r.compile_ms,
                    r.init_ms,
                    r.samples_per_second,
                    r.gflops,
                    r.eval_samples_per_second,
                    r.peak_rss_mib.map_or("?".into(), |m| format!("{m:.0}")),
                    r.drift.map_or(String::new(), |d| format!(
                        "drift             {d:>10.2} × (median epoch, last fifth over first)\n"
                    ))
                );
            }
            Ok(())
        }
        Command::Lsp => nnc::lsp::serve().map_err(|e| {
            Diagnostic::new("nnc::lsp::connection", e)
                .with_help("`nnc lsp` is started by an editor, which speaks the protocol on stdin")
        }),
        Command::Check { .. } | Command::Fmt { .. } => {
            unreachable!("invariant: main handles `check` and `fmt` before dispatch")
        }
        Command::Summary { file, data } => {
            let program = session::build_file(&file, &overrides(&data), &mut print_warning)?;
            say_raw!("{}", nnc::summary::summary(&program));
            Ok(())
        }
        Command::Explain { file, html, data } => {
            let program = session::build_file(&file, &overrides(&data), &mut print_warning)?;
            let explanation = nnc::explain::explain(&program);
            match html {
                None => say_raw!("{}", nnc::explain::render_text(&explanation)),
                Some(path) => {
                    let title = format!("The formulas of `{}`", file.display());
                    let page = nnc::explain::html::render(&explanation, &title);
                    std::fs::write(&path, page).map_err(|e| {
                        Diagnostic::new(
                            "nnc::io::explain",
                            format!("cannot write `{}`: {e}", path.display()),
                        )
                        .with_help("check that the folder exists and is writable")
                    })?;
                    say!("wrote the formulas to {}", path.display());
                }
            }
            Ok(())
        }
        Command::Ir {
            file,
            grad,
            step,
            emit,
            data,
        } => {
            let program = session::build_file(&file, &overrides(&data), &mut print_warning)?;
            let f = if step {
                &program.step
            } else if grad {
                &program.grad
            } else {
                &program.forward
            };
            match emit {
                None => say_raw!("{}", print_function(f)),
                Some(format) => {
                    let listing = match format {
                        Emit::Clif => NativeListing::Clif,
                        Emit::Asm => NativeListing::Asm,
                    };
                    say_raw!("{}", session::native_listing(&program, f, listing)?);
                }
            }
            Ok(())
        }
        Command::Run {
            file,
            data,
            training,
            test_fraction,
            validation_fraction,
            interp,
            report,
            quiet,
            out,
            checkpoint_every,
            resume,
            sweep,
        } => {
            let overrides = Overrides {
                epochs: training.epochs,
                batch_size: training.batch_size,
                seed: training.seed,
                threads: training.step.threads,
                monitor: training.step.monitor(),
                test_fraction,
                validation_fraction,
                ..overrides(&data)
            };
            if !sweep.is_empty() {
                return sweep::run(&file, overrides, interp, &sweep, report.as_deref());
            }
            let mut opts = RunOptions::new(overrides, interp);
            opts.persistence = Persistence {
                out: out.clone(),
                checkpoint_every: checkpoint_every.map(|n| n as usize),
                resume,
                stop: (out.is_some() && !interp).then(stop_on_signals).flatten(),
            };
            run(&file, opts, report.as_deref(), quiet, out.as_deref())
        }
        Command::Cv {
            file,
            data,
            training,
            folds,
            interp,
            report,
        } => {
            let overrides = Overrides {
                epochs: training.epochs,
                batch_size: training.batch_size,
                seed: training.seed,
                threads: training.step.threads,
                monitor: training.step.monitor(),
                ..overrides(&data)
            };
            cross_validate(&file, overrides, interp, folds as usize, report.as_deref())
        }
        Command::Predict {
            model,
            data,
            output,
        } => {
            let mut loaded = saved::open(&model)?;
            // Predicted a chunk at a time and written as each chunk is: a file of any length.
            let summary = match &output {
                None => {
                    let mut out = std::io::BufWriter::new(StdoutLines);
                    loaded.predict_to(&data, &mut out, "standard output")?
                }
                Some(path) => predict_into_file(&mut loaded, &data, path)?,
            };
            print_warnings(&summary.warnings);
            if let Some(path) = output {
                say!("wrote {} predictions to {}", summary.rows, path.display());
            }
            Ok(())
        }
        Command::Export { model, onnx } => {
            let bytes = nnc::export::write_onnx(&model, &onnx)?;
            say!("wrote {} ({} bytes)", onnx.display(), bytes);
            Ok(())
        }
        Command::Eval {
            model,
            data,
            report,
        } => {
            let mut loaded = saved::open(&model)?;
            let evaluated = loaded.evaluate(&data)?;
            print_warnings(&evaluated.warnings);
            if let Some(line) = evaluated.file.left_out() {
                say!("{line}");
            }
            let what = data.display().to_string();
            let (rows, metrics) = (evaluated.rows, &evaluated.metrics);
            print_test_metrics(&what, metrics, rows, loaded.preprocessing.class_names());
            if let Some(path) = report {
                nnc::train::report::write_json(&path, metrics)?;
            }
            Ok(())
        }
    }
}

/// Warnings about a data file, on standard error: the command goes on.
fn print_warnings(warnings: &[Diagnostic]) {
    warnings.iter().cloned().for_each(print_warning);
}

/// `nnc fmt`: every file is processed even when one fails; exit 1 if one failed or, with
/// `--check`, is not formatted.
fn fmt(files: &[PathBuf], check: bool) -> ExitCode {
    use nnc::fmt::files::{self, Difference, Outcome};
    let mut failed = false;
    for path in files {
        let outcome = if path.as_os_str() == "-" {
            fmt_stdin(check)
        } else {
            files::format_file(path, check)
        };
        match outcome {
            Ok(Outcome::Unchanged) => {}
            Ok(Outcome::Changed(Difference { line, old, new })) => {
                if check {
                    failed = true;
                    let shown = |l: Option<String>| l.unwrap_or_else(|| "(end of file)".into());
                    let name = if path.as_os_str() == "-" {
                        STDIN.to_string()
                    } else {
                        path.display().to_string()
                    };
                    say!(
                        "{name} is not formatted; first difference at line {line}:\n- {}\n+ {}",
                        shown(old),
                        shown(new)
                    );
                }
            }
            Err(d) => {
                failed = true;
                eprintln!("{:?}", miette::Report::new(d));
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// How diagnostics and `--check` name standard input.
const STDIN: &str = "<stdin>";

/// `nnc fmt -`: the formatted standard input on standard output (nothing with `--check`).
fn fmt_stdin(check: bool) -> Result<nnc::fmt::files::Outcome, Diagnostic> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::io::stdin().read_to_end(&mut bytes).map_err(|e| {
        Diagnostic::new("nnc::io::stdin", format!("cannot read standard input: {e}"))
            .with_help("pass the text on standard input, or name the file instead of `-`")
    })?;
    let (formatted, outcome) = nnc::fmt::files::format_bytes(STDIN, &bytes)?;
    if !check {
        say_raw!("{formatted}");
    }
    Ok(outcome)
}

/// Set by the first Ctrl-C (SIGINT) or SIGTERM: the run stops after its current step.
static STOP: AtomicBool = AtomicBool::new(false);
/// Set when a run ended because it was stopped: the process exits with 130, as after SIGINT.
static STOPPED: AtomicBool = AtomicBool::new(false);

/// Make Ctrl-C and SIGTERM stop the run after its current step (a second one exits at once);
/// `None` when the handler cannot be installed (the signals then end the process as usual).
fn stop_on_signals() -> Option<&'static AtomicBool> {
    let installed = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nstopping after the current step (press Ctrl-C again to quit at once)");
    });
    installed.ok().map(|()| &STOP)
}

fn run(
    file: &Path,
    opts: RunOptions,
    report_path: Option<&Path>,
    quiet: bool,
    out: Option<&Path>,
) -> Result<(), Diagnostic> {
    let interp = opts.interpret;
    // A bar over the epochs on stderr, drawn only when stderr is a terminal; the epoch lines still
    // go to stdout, printed "above" the bar.
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} epoch {pos}/{len} {elapsed} (eta {eta})")
            .expect("invariant: the progress template is valid"),
    );
    // Up to 20 epochs each gets a line; beyond, every `stride`-th does (about 20 lines), and the
    // first and the last. An epoch where early stopping ends training is printed once it has.
    let epochs = Cell::new(0);
    let stride = Cell::new(1);
    let early_stopping: Cell<Option<(Monitor, bool)>> = Cell::new(None);
    let unprinted: RefCell<Option<EpochRecord>> = RefCell::new(None);
    let outcome = session::run(
        file,
        &opts,
        print_warning,
        |spec, program, data| {
            epochs.set(spec.train.epochs);
            stride.set(spec.train.epochs.div_ceil(20).max(1));
            early_stopping.set(
                spec.train
                    .early_stopping
                    .as_ref()
                    .map(|e| (e.monitor, e.restore_best)),
            );
            bar.set_length(spec.train.epochs as u64);
            // Time the training, not the data loading before it.
            bar.reset();
            let (train, validation, test) = data.part_rows();
            if !quiet {
                for line in data.files.iter().filter_map(|f| f.left_out()) {
                    say!("{line}");
                }
                if let Some(s) = &data.streamed {
                    say!(
                        "{}: larger than the memory limit of {}: read in chunks, prepared into a temporary file, shuffled in a buffer of {} rows",
                        data.path.display(),
                        nnc::data::stream::show_size(s.limit),
                        s.buffer_rows.min(train),
                    );
                }
                say!(
                    "{}: {} parameters; {} train / {} validation / {} test rows; {} epochs of batch {}{} on the {}",
                    spec.source.name,
                    program.parameter_count(),
                    train,
                    validation,
                    test,
                    spec.train.epochs,
                    spec.train.batch_size,
                    if spec.train.full_batch { " (all rows)" } else { "" },
                    if interp { "interpreter" } else { "JIT" }
                );
            }
        },
        |e| {
            if !quiet {
                if e.epoch == 1 || e.epoch % stride.get() == 0 || e.epoch == epochs.get() {
                    bar.suspend(|| say!("{}", epoch_line(e)));
                    unprinted.replace(None);
                } else {
                    unprinted.replace(Some(e.clone()));
                }
            }
            bar.inc(1);
        },
    );
    bar.finish_and_clear();
    let outcome = outcome?;
    let r = &outcome.report;
    if let Some(e) = unprinted.into_inner() {
        say!("{}", epoch_line(&e));
    }
    if let (Some((monitor, restore_best)), Some(best)) = (early_stopping.get(), r.best_epoch) {
        let value = r
            .history
            .iter()
            .find(|e| e.epoch == best)
            .and_then(|e| e.monitored(monitor))
            .map(|v| format!("{v:.4}"))
            .unwrap_or_else(|| "-".into());
        let restored = if restore_best && best != r.epochs_run {
            ", parameters restored"
        } else {
            ""
        };
        let best = format!("best epoch {best} ({} {value}){restored}", monitor.name());
        if r.stopped_early {
            say!("stopped early at epoch {}; {best}", r.epochs_run);
        } else {
            say!("{best}");
        }
    }
    say!(
        "compiled in {:.1} ms; trained {} epochs in {} ({:.0} samples/s)",
        r.compile_ms,
        r.epochs_run,
        duration_text(r.train_seconds),
        r.samples_per_second
    );
    match &r.test {
        None if r.interrupted.is_some() => say!("no test metrics: the run was stopped"),
        None => say!("no test metrics: the test split is empty (test_fraction is 0)"),
        Some(test) => print_test_metrics("test", test, r.rows.test, &r.classes),
    }
    if let Some(path) = report_path {
        r.write_json(path)?;
    }
    if let Some(dir) = out {
        saved::save_run(dir, &outcome)?;
        say!("saved the model to {}", dir.display());
    }
    if let (Some(at), Some(dir)) = (r.interrupted, out) {
        STOPPED.store(true, Ordering::SeqCst);
        let place = match at.batches {
            0 => format!("before epoch {}", at.epoch),
            b => format!("in epoch {} after batch {b}", at.epoch),
        };
        eprintln!(
            "stopped {place}; the model so far and a checkpoint are in {}\nto continue: nnc run {} --out {} --resume {}",
            dir.display(),
            file.display(),
            dir.display(),
            dir.display()
        );
    }
    Ok(())
}

/// A warning on stderr, as it is found (`--quiet` hides none: a warning may explain what follows).
fn print_warning(w: Diagnostic) {
    eprintln!("{:?}", miette::Report::new(w));
}

fn cross_validate(
    file: &Path,
    overrides: Overrides,
    interp: bool,
    folds: usize,
    report_path: Option<&Path>,
) -> Result<(), Diagnostic> {
    let opts = RunOptions::new(overrides, interp);
    let bar = indicatif::ProgressBar::new(folds as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} fold {pos}/{len} {elapsed} (eta {eta})")
            .expect("invariant: the progress template is valid"),
    );
    let report = cv::cross_validate(
        file,
        &opts,
        folds,
        |w| bar.suspend(|| eprintln!("{:?}", miette::Report::new(w.clone()))),
        |f| {
            let m = cv::scalar_metrics(&f.metrics);
            // The headline metrics per fold; the summary below has all of them.
            const SHOWN: &[&str] = &["loss", "accuracy", "f1", "roc_auc", "mae", "rmse", "r2"];
            let cells: Vec<String> = (m.iter())
                .filter(|(k, _)| SHOWN.contains(&k.as_str()))
                .map(|(k, v)| format!("{k} {v:.4}"))
                .collect();
            bar.suspend(|| {
                say!(
                    "fold {:>2} ({} train / {} test rows): {}",
                    f.fold,
                    f.train_rows,
                    f.test_rows,
                    cells.join("  ")
                )
            });
            bar.inc(1);
        },
        |_, _| {},
    );
    bar.finish_and_clear();
    let report = report?;
    say!("{:<18} {:>10} {:>10}", "metric", "mean", "std");
    for (name, s) in &report.summary {
        say!("{name:<18} {:>10.4} {:>10.4}", s.mean, s.std);
    }
    if let Some(path) = report_path {
        nnc::train::report::write_json(path, &report)?;
    }
    Ok(())
}

/// One epoch's line: the losses, the validation metric when measured, the time.
fn epoch_line(e: &EpochRecord) -> String {
    let val = e
        .val_loss
        .map(|v| format!("{v:.4}"))
        .unwrap_or_else(|| "-".into());
    let metric = match (e.val_accuracy, e.val_mae) {
        (Some(a), _) => format!("  val accuracy {a:.4}"),
        (None, Some(m)) => format!("  val mae {m:.4}"),
        (None, None) => String::new(),
    };
    format!(
        "epoch {:>4}  train loss {:.4}  val loss {val}{metric}  {}",
        e.epoch,
        e.train_loss,
        duration_text(e.seconds)
    )
}

/// A duration with three significant digits in the unit that shows them (`1.25s`, `21.0ms`,
/// `350µs`): a small model's epoch takes well under a millisecond, which a fixed number of
/// decimals of a second would print as zero.
fn duration_text(seconds: f64) -> String {
    const UNITS: [(f64, &str); 4] = [(1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns")];
    if !(seconds.is_finite() && seconds > 0.0) {
        return "0s".to_string();
    }
    // A value that rounds up to 1000 of a unit is shown as 1.00 of the next one up.
    let (scale, unit) = UNITS
        .iter()
        .find(|(scale, _)| seconds >= scale * 0.9995)
        .unwrap_or(&UNITS[UNITS.len() - 1]);
    let value = seconds / scale;
    let decimals = if value >= 99.95 {
        0
    } else if value >= 9.995 {
        1
    } else {
        2
    };
    format!("{value:.decimals$}{unit}")
}

fn print_test_metrics(
    what: &str,
    test: &nnc::train::report::TestMetrics,
    rows: usize,
    classes: &[String],
) {
    say!("{what} ({rows} rows): loss {:.4}", test.loss);
    if let Some(c) = &test.classification {
        say!(
            "  accuracy {:.4}  precision {:.4}  recall {:.4}  f1 {:.4} (macro)",
            c.accuracy,
            c.precision,
            c.recall,
            c.f1
        );
        say!(
            "  weighted: precision {:.4}  recall {:.4}  f1 {:.4}",
            c.weighted.precision,
            c.weighted.recall,
            c.weighted.f1
        );
        if let Some(auc) = c.roc_auc {
            say!("  ROC AUC {auc:.4}");
        }
        let width = classes
            .iter()
            .map(|n| n.chars().count())
            .max()
            .unwrap_or(5)
            .max(5);
        say!("  {:width$}  precision  recall      f1  support", "class");
        for (name, s) in classes.iter().zip(&c.per_class) {
            say!(
                "  {name:width$}  {:9.4}  {:6.4}  {:6.4}  {:7}",
                s.precision,
                s.recall,
                s.f1,
                s.support
            );
        }
        say!(
            "  confusion matrix (rows: truth, columns: predicted; {}):",
            classes.join(", ")
        );
        // Columns as wide as the largest count, with a space between them.
        let cell = (c.confusion.iter().flatten())
            .map(|n| n.to_string().len() + 1)
            .max()
            .unwrap_or(0)
            .max(5);
        for row in &c.confusion {
            say!(
                "    {}",
                row.iter()
                    .map(|n| format!("{n:>cell$}"))
                    .collect::<String>()
            );
        }
    }
    if let Some(m) = &test.regression {
        say!(
            "  mae {:.4}  mse {:.4}  rmse {:.4}  r2 {:.4}",
            m.mae,
            m.mse,
            m.rmse,
            m.r2
        );
    }
}

#[cfg(test)]
mod tests {
    use super::duration_text;

    #[test]
    fn durations_keep_three_significant_digits_in_their_unit() {
        for (seconds, text) in [
            (1.25, "1.25s"),
            (12.345, "12.3s"),
            (754.2, "754s"),
            (4321.0, "4321s"),
            (0.0021, "2.10ms"),
            (0.0214, "21.4ms"),
            (0.35, "350ms"),
            (0.000_35, "350µs"),
            (0.000_004_2, "4.20µs"),
            (0.000_000_5, "500ns"),
            (2e-11, "0.02ns"),
            // Rounding up to 1000 of a unit moves to the next one.
            (0.9999, "1.00s"),
            (0.000_999_8, "1.00ms"),
            (9.999, "10.0s"),
            (0.0, "0s"),
            (f64::NAN, "0s"),
        ] {
            assert_eq!(duration_text(seconds), text, "{seconds}");
        }
    }
}
