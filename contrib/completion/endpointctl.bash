# bash completion for endpointctl(1)
#
# Completes commands, options and their fixed values, endpoint names (for
# describe, delete, wait, invoke, tags, update, update-weights), endpoint
# config names (create and update --config, delete-config) and model names
# (delete-model) by asking the
# daemon: `endpointctl -o json list`, quietly and with a short timeout, at
# the --url given on the line or $ENDPOINTD_URL, with the line's --profile,
# --region and --ca-bundle; profile names from the AWS CLI's files; request
# files (YAML or JSON) for create-model and create-config.
#
# Install as /usr/share/bash-completion/completions/endpointctl, or source it.

# COMPREPLY=($(compgen …)) is the idiom: words never contain blanks here.
# shellcheck disable=SC2207

# Names from a List* call, signed as the line says:
# _endpointctl_names PROG URL KEY COMMAND...  (with the array conn set)
_endpointctl_names()
{
	local prog=$1 url=$2 key=$3
	shift 3
	local -a argv=("$prog")
	[[ -n $url ]] && argv+=(--url "$url")
	argv+=("${conn[@]}" -o json "$@")
	if command -v timeout >/dev/null 2>&1; then
		argv=(timeout 2 "${argv[@]}")
	fi
	# Names are [A-Za-z0-9-]: no JSON escapes to undo.
	"${argv[@]}" 2>/dev/null </dev/null |
		sed -n "s/^ *\"$key\": *\"\\([A-Za-z0-9-]*\\)\".*/\\1/p"
}

_endpointctl()
{
	local cur prev words cword
	if declare -F _get_comp_words_by_ref >/dev/null 2>&1; then
		_get_comp_words_by_ref -n =: cur prev words cword
	else
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
	fi

	local commands="create update update-weights describe list delete wait invoke configs models
		create-model create-config delete-model delete-config tags check-config metrics help"
	local global_opts="--url --output -o --profile --region --ca-bundle --verbose -v --help -h --version"
	local statuses="OutOfService Creating Updating SystemUpdating RollingBack InService Deleting Failed UpdateRollbackFailed"
	local prog=${words[0]} cmd="" url="" i
	# --profile, --region and --ca-bundle go to the listing calls too.
	local -a conn=()

	# The command and the connection's options, wherever they are on the line.
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		--url)
			url=${words[i + 1]}
			((i++))
			;;
		--url=*) url=${words[i]#--url=} ;;
		--profile | --region | --ca-bundle)
			conn+=("${words[i]}" "${words[i + 1]}")
			((i++))
			;;
		--profile=* | --region=* | --ca-bundle=*) conn+=("${words[i]}") ;;
		-o | --output | -c | --config | -t | --tag | --timeout | --for | -s | --status | \
			-n | --name-contains | --name | --sort-by | --sort-order | --page-size | -a | \
			--accept | --content-type | --variant | --custom-attributes | --canary | --linear | \
			--rolling | --wait-interval | --termination-wait | --max-execution | --rollback-batch | \
			--alarm | --exclude)
			((i++))
			;;
		-*) ;;
		*) [[ -z $cmd ]] && cmd=${words[i]} ;;
		esac
	done

	# The value of an option.
	case $prev in
	--url)
		COMPREPLY=($(compgen -W "http://127.0.0.1:8780 unix:/" -- "$cur"))
		return
		;;
	-o | --output)
		COMPREPLY=($(compgen -W "table json" -- "$cur"))
		return
		;;
	--profile)
		# Section names of the AWS CLI's files, as endpointctl reads them.
		local files="${AWS_SHARED_CREDENTIALS_FILE:-$HOME/.aws/credentials} ${AWS_CONFIG_FILE:-$HOME/.aws/config}"
		# shellcheck disable=SC2086
		COMPREPLY=($(compgen -W "$(sed -n 's/^[[:space:]]*\[\(profile[[:space:]]\{1,\}\)\{0,1\}\([A-Za-z0-9_.@+-]*\)[[:space:]]*\].*/\2/p' $files 2>/dev/null | sort -u)" -- "$cur"))
		return
		;;
	--region)
		return
		;;
	--ca-bundle)
		if declare -F _filedir >/dev/null 2>&1; then
			_filedir '@(pem|crt|cer)'
		else
			COMPREPLY=($(compgen -f -- "$cur"))
		fi
		return
		;;
	--for)
		COMPREPLY=($(compgen -W "InService Deleted" -- "$cur"))
		return
		;;
	-s | --status)
		COMPREPLY=($(compgen -W "$statuses" -- "$cur"))
		return
		;;
	--sort-by)
		COMPREPLY=($(compgen -W "Name CreationTime Status" -- "$cur"))
		return
		;;
	--sort-order)
		COMPREPLY=($(compgen -W "Ascending Descending" -- "$cur"))
		return
		;;
	--exclude)
		COMPREPLY=($(compgen -W "DesiredInstanceCount DesiredWeight DataCaptureConfig" -- "$cur"))
		return
		;;
	--canary | --linear | --rolling | --wait-interval | --termination-wait | --max-execution | \
		--rollback-batch | --alarm)
		return
		;;
	-c | --config | --content-type)
		if [[ $cmd == create || $cmd == update ]]; then
			COMPREPLY=($(compgen -W "$(_endpointctl_names "$prog" "$url" EndpointConfigName configs)" -- "$cur"))
		elif [[ $cmd == invoke ]]; then
			COMPREPLY=($(compgen -W "application/json text/csv application/octet-stream" -- "$cur"))
		fi
		return
		;;
	-a | --accept)
		COMPREPLY=($(compgen -W "application/json text/csv application/octet-stream" -- "$cur"))
		return
		;;
	-t | --tag | --timeout | -n | --name-contains | --name | --page-size | --variant | --custom-attributes)
		return
		;;
	esac

	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "$global_opts" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		fi
		return
	fi

	local opts="--url --output -o --profile --region --ca-bundle --verbose -v --help -h"
	case $cmd in
	create) opts+=" --config -c --tag -t --wait -w --timeout" ;;
	update)
		opts+=" --config -c --canary --linear --rolling --wait-interval --termination-wait --max-execution"
		opts+=" --rollback-batch --alarm --retain --exclude --retain-deployment-config --wait -w --timeout"
		;;
	update-weights) opts+=" --wait -w --timeout" ;;
	list) opts+=" --status -s --name-contains -n --sort-by --sort-order --page-size" ;;
	configs | models) opts+=" --name-contains -n --sort-by --sort-order --page-size" ;;
	delete) opts+=" --wait -w --timeout" ;;
	wait) opts+=" --for --timeout" ;;
	invoke) opts+=" --content-type -c --accept -a --variant --custom-attributes" ;;
	create-model | create-config) opts+=" --name -n" ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		return
	fi

	case $cmd in
	update-weights)
		# The endpoint first, then VARIANT=WEIGHT:COUNT words of the operator's.
		local n=0
		for ((i = 1; i < cword; i++)); do
			case ${words[i]} in
			--url | -o | --output | --timeout | --profile | --region | --ca-bundle) ((i++)) ;;
			-*) ;;
			*) ((n++)) ;;
			esac
		done
		if ((n == 1)); then
			COMPREPLY=($(compgen -W "$(_endpointctl_names "$prog" "$url" EndpointName list)" -- "$cur"))
		fi
		;;
	describe | delete | wait | invoke | tags | update)
		COMPREPLY=($(compgen -W "$(_endpointctl_names "$prog" "$url" EndpointName list)" -- "$cur"))
		;;
	delete-model)
		COMPREPLY=($(compgen -W "$(_endpointctl_names "$prog" "$url" ModelName models)" -- "$cur"))
		;;
	delete-config)
		COMPREPLY=($(compgen -W "$(_endpointctl_names "$prog" "$url" EndpointConfigName configs)" -- "$cur"))
		;;
	check-config)
		if declare -F _filedir >/dev/null 2>&1; then
			_filedir '@(yaml|yml)'
		else
			COMPREPLY=($(compgen -f -- "$cur"))
		fi
		;;
	create-model | create-config)
		if declare -F _filedir >/dev/null 2>&1; then
			_filedir '@(yaml|yml|json)'
		else
			COMPREPLY=($(compgen -f -- "$cur"))
		fi
		;;
	help)
		COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		;;
	esac
}

complete -F _endpointctl endpointctl
